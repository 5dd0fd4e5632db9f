"""The storage interface.

Paths and object keys are built only from a validated video id, an integer attempt and a
variant from a fixed table: never from anything else a user sent.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from app.records import is_video_id


@dataclass(frozen=True)
class Variant:
    name: str
    filename: str
    media_type: str


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("video", "video.mp4", "video/mp4"),
        Variant("thumbnail", "thumbnail.webp", "image/webp"),
        Variant("spritesheet", "spritesheet.jpg", "image/jpeg"),
    )
}


def object_name(video_id: str, attempt: int, variant: str) -> str:
    if not is_video_id(video_id):
        raise ValueError(f"not a video id: {video_id!r}")
    return f"{video_id}/{int(attempt)}/{VARIANTS[variant].filename}"


class Storage(ABC):
    @abstractmethod
    def put(self, video_id: str, attempt: int, files: dict[str, Path]) -> None:
        """Store each variant's local file; each appears whole or not at all."""

    @abstractmethod
    def exists(self, video_id: str, attempt: int, variant: str) -> bool: ...

    @abstractmethod
    def serve(self, video_id: str, attempt: int, variant: str, request: Request) -> Response:
        """A response for the client: the bytes (with Range support) or a redirect."""

    @abstractmethod
    def read_bytes(self, video_id: str, attempt: int, variant: str) -> bytes: ...

    @abstractmethod
    def delete(self, video_id: str, attempt: int | None = None) -> None:
        """Remove one attempt's files, or every file of the video."""
