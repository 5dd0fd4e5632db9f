"""The storage interface.

Paths and object keys are built only from a validated video id, an integer attempt and a
variant from a fixed table: never from anything else a user sent.
"""

import re
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
        # What a request brought (app/inputs), stored as attempt 0, which no render uses, so
        # every attempt reads them and only deleting the video removes them.
        Variant("input_image", "input-image.png", "image/png"),
        Variant("input_video", "input-video.mp4", "video/mp4"),
        Variant("reference_image", "reference-image.png", "image/png"),
        # The latest preview while denoising (workers/previews), kept after the video is done.
        Variant("preview", "preview.jpg", "image/jpeg"),
    )
}


def object_name(video_id: str, attempt: int, variant: str) -> str:
    if not is_video_id(video_id):
        raise ValueError(f"not a video id: {video_id!r}")
    return f"{video_id}/{int(attempt)}/{VARIANTS[variant].filename}"


# Work files of a render that outlive its attempt (a long video's chunk checkpoints), kept under
# `<video_id>/work/` and deleted with the video. Their names are made by the worker from integers.
WORK_NAME_RE = re.compile(r"^[a-z0-9_-]{1,64}\.(npy|safetensors|json)$")


def work_object_name(video_id: str, name: str) -> str:
    if not is_video_id(video_id):
        raise ValueError(f"not a video id: {video_id!r}")
    if not WORK_NAME_RE.match(name):
        raise ValueError(f"not a work file name: {name!r}")
    return f"{video_id}/work/{name}"


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

    @abstractmethod
    def put_work(self, video_id: str, name: str, source: Path) -> None:
        """Store a work file (whole or not at all); it survives attempts, not the video."""

    @abstractmethod
    def get_work(self, video_id: str, name: str, target: Path) -> bool:
        """Copy a work file to `target`; False when there is none."""

    @abstractmethod
    def delete_work(self, video_id: str, name: str) -> None: ...
