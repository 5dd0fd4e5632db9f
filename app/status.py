"""The life of a video, as an explicit enum."""

from enum import StrEnum


class VideoStatus(StrEnum):
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({VideoStatus.COMPLETED, VideoStatus.FAILED, VideoStatus.CANCELLED})
ACTIVE = frozenset({VideoStatus.QUEUED, VideoStatus.IN_PROGRESS})
