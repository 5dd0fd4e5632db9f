"""Pick the storage backend from settings."""

from app.settings import Settings
from app.storage.base import Storage
from app.storage.local import LocalStorage


def get_storage(settings: Settings) -> Storage:
    if settings.storage == "s3":
        # boto3 is only imported by deployments that use it.
        from app.storage.s3 import S3Settings, S3Storage

        return S3Storage(S3Settings())
    return LocalStorage(settings.data_dir / "videos")
