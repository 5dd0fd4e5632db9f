"""S3-compatible object storage (AWS S3, MinIO, Cloudflare R2, ...).

Each variant is one object under `<prefix><video_id>/<attempt>/<filename>`. A PUT makes an
object appear whole or not at all, so readers never see a partial video. Content reaches clients
either through the API (`proxy`: streamed, with HTTP Range forwarded to S3) or by a 307 redirect
to a presigned GET URL (`redirect`: the bytes never pass through the API).
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from app.records import is_video_id
from app.storage.base import VARIANTS, Storage, object_name, work_object_name


# Streamed responses read the object in pieces of this size: big enough to keep the socket busy,
# small enough that many concurrent downloads stay cheap in memory.
STREAM_CHUNK_BYTES = 1024 * 1024
# DeleteObjects accepts at most this many keys per call.
DELETE_BATCH = 1000


class S3Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="T2V_S3_", env_file=".env", extra="ignore")

    bucket: str
    # Unset means AWS; set it for MinIO (`http://minio:9000`), R2 (`https://<account>.r2.cloudflarestorage.com`), ...
    endpoint_url: str | None = None
    region: str = "us-east-1"
    # Unset keys fall back to boto3's own chain (environment, instance role, ~/.aws).
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    # Keys start with this, so one bucket can hold several deployments (e.g. "t2v/").
    prefix: str = ""
    # MinIO needs "path" unless it is set up for virtual-hosted buckets.
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    serve: Literal["proxy", "redirect"] = "proxy"
    presign_ttl_s: int = 3600
    # Presigned URLs embed the host they were signed for; set this when clients reach the
    # store by another address than the workers do (e.g. `https://s3.example.com` vs `http://minio:9000`).
    presign_endpoint_url: str | None = None
    # Create the bucket at start-up when it is missing (handy for MinIO; leave off on AWS).
    create_bucket: bool = False


def _client(settings: S3Settings, endpoint_url: str | None):
    secret = settings.secret_access_key.get_secret_value() if settings.secret_access_key else None
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=secret,
        # SigV4 everywhere: R2 and newer AWS regions refuse the older presigned-URL signature.
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": settings.addressing_style},
            retries={"mode": "standard"},
        ),
    )


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _is_missing(error: ClientError) -> bool:
    # HEAD answers carry no body, so a missing key or bucket shows up only as a bare "404".
    return _error_code(error) in {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


class S3Storage(Storage):
    def __init__(self, settings: S3Settings):
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix.strip("/") + "/" if settings.prefix.strip("/") else ""
        self.client = _client(settings, settings.endpoint_url)
        self.presign_client = (
            _client(settings, settings.presign_endpoint_url) if settings.presign_endpoint_url else self.client
        )
        if settings.create_bucket:
            self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as error:
            if not _is_missing(error):
                raise
        options = {}
        if self.settings.region != "us-east-1":
            # us-east-1 is the one region that rejects an explicit location constraint.
            options["CreateBucketConfiguration"] = {"LocationConstraint": self.settings.region}
        try:
            self.client.create_bucket(Bucket=self.bucket, **options)
        except ClientError as error:
            # Another replica created it between our HEAD and CREATE.
            if _error_code(error) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    def _key(self, video_id: str, attempt: int, variant: str) -> str:
        return self.prefix + object_name(video_id, attempt, variant)

    def put(self, video_id: str, attempt: int, files: dict[str, Path]) -> None:
        for variant, source in files.items():
            # upload_file switches to multipart for large files; a multipart object also appears
            # only when the upload completes, so readers still see all or nothing.
            self.client.upload_file(
                str(source),
                self.bucket,
                self._key(video_id, attempt, variant),
                ExtraArgs={"ContentType": VARIANTS[variant].media_type},
            )

    def exists(self, video_id: str, attempt: int, variant: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(video_id, attempt, variant))
        except ClientError as error:
            if _is_missing(error):
                return False
            raise
        return True

    def serve(self, video_id: str, attempt: int, variant: str, request: Request) -> Response:
        key = self._key(video_id, attempt, variant)
        if self.settings.serve == "redirect":
            url = self.presign_client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=self.settings.presign_ttl_s,
            )
            return RedirectResponse(url, status_code=307)
        return self._proxy(key, VARIANTS[variant].media_type, request)

    def _proxy(self, key: str, media_type: str, request: Request) -> Response:
        if request.method == "HEAD":
            head = self._call(self.client.head_object, key)
            headers = {"accept-ranges": "bytes", "content-length": str(head["ContentLength"])}
            return Response(status_code=200, headers=headers, media_type=media_type)

        params = {}
        # S3 answers Range itself (206 with Content-Range, 416 when unsatisfiable) and, like
        # any HTTP server may, ignores ranges it does not support (multi-range) with a 200.
        if request.headers.get("range"):
            params["Range"] = request.headers["range"]
        try:
            obj = self._call(self.client.get_object, key, **params)
        except ClientError as error:
            if _error_code(error) != "InvalidRange":
                raise
            return self._range_not_satisfiable(key, error)

        headers = {"accept-ranges": "bytes", "content-length": str(obj["ContentLength"])}
        if obj.get("ETag"):
            headers["etag"] = obj["ETag"]
        status = 200
        if obj.get("ContentRange"):
            status = 206
            headers["content-range"] = obj["ContentRange"]
        return StreamingResponse(_chunks(obj["Body"]), status_code=status, headers=headers, media_type=media_type)

    def _range_not_satisfiable(self, key: str, error: ClientError) -> Response:
        size = error.response.get("Error", {}).get("ActualObjectSize")
        if size is None:
            size = self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
        return Response(status_code=416, headers={"content-range": f"bytes */{size}"})

    def _call(self, operation, key: str, **params):
        # A missing object raises FileNotFoundError, as a missing file does in the local backend.
        try:
            return operation(Bucket=self.bucket, Key=key, **params)
        except ClientError as error:
            if _is_missing(error):
                raise FileNotFoundError(key) from error
            raise

    def read_bytes(self, video_id: str, attempt: int, variant: str) -> bytes:
        obj = self._call(self.client.get_object, self._key(video_id, attempt, variant))
        with obj["Body"] as body:
            return body.read()

    def delete(self, video_id: str, attempt: int | None = None) -> None:
        if not is_video_id(video_id):
            raise ValueError(f"not a video id: {video_id!r}")
        # The trailing slash keeps attempt 1 from matching attempt 10.
        prefix = f"{self.prefix}{video_id}/" if attempt is None else f"{self.prefix}{video_id}/{int(attempt)}/"
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def put_work(self, video_id: str, name: str, source: Path) -> None:
        self.client.upload_file(str(source), self.bucket, self.prefix + work_object_name(video_id, name))

    def get_work(self, video_id: str, name: str, target: Path) -> bool:
        try:
            self.client.download_file(self.bucket, self.prefix + work_object_name(video_id, name), str(target))
        except ClientError as error:
            if _is_missing(error):
                return False
            raise
        return True

    def delete_work(self, video_id: str, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + work_object_name(video_id, name))


def _chunks(body) -> Iterator[bytes]:
    # Release the S3 connection even when the client hangs up mid-download.
    try:
        yield from body.iter_chunks(STREAM_CHUNK_BYTES)
    finally:
        body.close()
