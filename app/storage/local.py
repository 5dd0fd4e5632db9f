"""A directory on this host (or a shared mount every worker and API replica sees)."""

import os
import shutil
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from app.records import is_video_id
from app.storage.base import VARIANTS, Storage, object_name, work_object_name


class LocalStorage(Storage):
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, video_id: str, attempt: int, variant: str) -> Path:
        return self.root / object_name(video_id, attempt, variant)

    def put(self, video_id: str, attempt: int, files: dict[str, Path]) -> None:
        for variant, source in files.items():
            target = self._path(video_id, attempt, variant)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
            shutil.copyfile(source, partial)
            # rename is atomic within a filesystem: readers see the old file or the whole new one.
            os.replace(partial, target)

    def exists(self, video_id: str, attempt: int, variant: str) -> bool:
        return self._path(video_id, attempt, variant).is_file()

    def serve(self, video_id: str, attempt: int, variant: str, request: Request) -> Response:
        # FileResponse answers Range requests (206 / 416) itself.
        return FileResponse(self._path(video_id, attempt, variant), media_type=VARIANTS[variant].media_type)

    def read_bytes(self, video_id: str, attempt: int, variant: str) -> bytes:
        return self._path(video_id, attempt, variant).read_bytes()

    def delete(self, video_id: str, attempt: int | None = None) -> None:
        if not is_video_id(video_id):
            raise ValueError(f"not a video id: {video_id!r}")
        target = self.root / video_id if attempt is None else self.root / video_id / str(int(attempt))
        shutil.rmtree(target, ignore_errors=True)

    def put_work(self, video_id: str, name: str, source: Path) -> None:
        target = self.root / work_object_name(video_id, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        shutil.copyfile(source, partial)
        os.replace(partial, target)

    def get_work(self, video_id: str, name: str, target: Path) -> bool:
        source = self.root / work_object_name(video_id, name)
        if not source.is_file():
            return False
        shutil.copyfile(source, target)
        return True

    def delete_work(self, video_id: str, name: str) -> None:
        (self.root / work_object_name(video_id, name)).unlink(missing_ok=True)
