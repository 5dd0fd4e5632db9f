"""The S3 backend against a real S3-compatible HTTP server (moto) on 127.0.0.1."""

import secrets
import uuid

import boto3
import httpx
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from app.settings import Settings
from app.storage import s3 as s3_module
from app.storage.factory import get_storage
from app.storage.s3 import S3Settings, S3Storage


VIDEO_ID = "video_" + "a" * 32
OTHER_VIDEO_ID = "video_" + "b" * 32
PREFIX = "deploy-a/"
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def make_storage(endpoint: str, bucket: str, **overrides) -> S3Storage:
    options = dict(
        bucket=bucket,
        endpoint_url=endpoint,
        prefix=PREFIX,
        addressing_style="path",
        create_bucket=True,
        **CREDENTIALS,
    )
    options.update(overrides)
    return S3Storage(S3Settings(**options))


@pytest.fixture
def bucket() -> str:
    # moto keeps one state per server: a fresh bucket per test keeps tests apart.
    return f"t2v-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def storage(s3_endpoint, bucket) -> S3Storage:
    return make_storage(s3_endpoint, bucket)


@pytest.fixture
def raw_client(s3_endpoint):
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(s3={"addressing_style": "path"}),
    )


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def client_for(storage: S3Storage) -> TestClient:
    def content(request):
        return storage.serve(VIDEO_ID, 1, request.path_params["variant"], request)

    return TestClient(Starlette(routes=[Route("/content/{variant}", content, methods=["GET", "HEAD"])]))


def test_put_stores_each_variant_under_prefix_with_media_type(storage, raw_client, bucket, tmp_path):
    video = write(tmp_path, "v.mp4", b"mp4-bytes")
    thumb = write(tmp_path, "t.webp", b"webp-bytes")
    storage.put(VIDEO_ID, 1, {"video": video, "thumbnail": thumb})

    head = raw_client.head_object(Bucket=bucket, Key=f"{PREFIX}{VIDEO_ID}/1/video.mp4")
    assert head["ContentType"] == "video/mp4"
    assert (
        raw_client.head_object(Bucket=bucket, Key=f"{PREFIX}{VIDEO_ID}/1/thumbnail.webp")["ContentType"] == "image/webp"
    )
    assert storage.exists(VIDEO_ID, 1, "video")
    assert storage.read_bytes(VIDEO_ID, 1, "thumbnail") == b"webp-bytes"


def test_missing_objects(storage):
    assert not storage.exists(VIDEO_ID, 1, "video")
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(VIDEO_ID, 1, "video")
    with pytest.raises(FileNotFoundError):
        client_for(storage).get("/content/video")


def test_large_file_goes_through_multipart_and_streams_back_whole(storage, tmp_path):
    # Above boto3's 8 MiB multipart threshold and several stream chunks long.
    data = secrets.token_bytes(9 * 1024 * 1024 + 17)
    storage.put(VIDEO_ID, 1, {"video": write(tmp_path, "big.mp4", data)})

    response = client_for(storage).get("/content/video")
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-length"] == str(len(data))


def test_proxy_serves_whole_object(storage, tmp_path):
    storage.put(VIDEO_ID, 1, {"video": write(tmp_path, "v.mp4", b"0123456789")})

    response = client_for(storage).get("/content/video")
    assert response.status_code == 200
    assert response.content == b"0123456789"
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    ("range_header", "content_range", "body"),
    [
        ("bytes=2-5", "bytes 2-5/10", b"2345"),
        ("bytes=7-", "bytes 7-9/10", b"789"),
        ("bytes=-3", "bytes 7-9/10", b"789"),
        ("bytes=8-100", "bytes 8-9/10", b"89"),
    ],
)
def test_proxy_answers_range_with_206(storage, tmp_path, range_header, content_range, body):
    storage.put(VIDEO_ID, 1, {"video": write(tmp_path, "v.mp4", b"0123456789")})

    response = client_for(storage).get("/content/video", headers={"Range": range_header})
    assert response.status_code == 206
    assert response.headers["content-range"] == content_range
    assert response.headers["content-length"] == str(len(body))
    assert response.content == body


def test_proxy_answers_unsatisfiable_range_with_416(storage, tmp_path):
    storage.put(VIDEO_ID, 1, {"video": write(tmp_path, "v.mp4", b"0123456789")})

    response = client_for(storage).get("/content/video", headers={"Range": "bytes=50-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */10"


def test_proxy_head_sends_length_without_body(storage, tmp_path):
    storage.put(VIDEO_ID, 1, {"video": write(tmp_path, "v.mp4", b"0123456789")})

    response = client_for(storage).head("/content/video")
    assert response.status_code == 200
    assert response.headers["content-length"] == "10"
    assert response.content == b""


def test_redirect_mode_sends_307_to_a_working_presigned_url(s3_endpoint, bucket, tmp_path):
    storage = make_storage(s3_endpoint, bucket, serve="redirect", presign_ttl_s=120)
    storage.put(VIDEO_ID, 1, {"video": write(tmp_path, "v.mp4", b"0123456789")})

    response = client_for(storage).get("/content/video", follow_redirects=False)
    assert response.status_code == 307
    location = response.headers["location"]
    assert location.startswith(f"{s3_endpoint}/{bucket}/{PREFIX}{VIDEO_ID}/1/video.mp4?")
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=120" in location

    fetched = httpx.get(location)
    assert fetched.status_code == 200
    assert fetched.content == b"0123456789"


def test_presigned_urls_use_the_public_endpoint_when_set(s3_endpoint, bucket, tmp_path):
    public = s3_endpoint.replace("127.0.0.1", "localhost")
    storage = make_storage(s3_endpoint, bucket, serve="redirect", presign_endpoint_url=public)
    storage.put(VIDEO_ID, 1, {"video": write(tmp_path, "v.mp4", b"abc")})

    location = client_for(storage).get("/content/video", follow_redirects=False).headers["location"]
    assert location.startswith(f"{public}/{bucket}/")


def test_delete_one_attempt_leaves_others(storage, tmp_path):
    video = write(tmp_path, "v.mp4", b"x")
    for attempt in (1, 10):
        storage.put(VIDEO_ID, attempt, {"video": video})
    storage.put(OTHER_VIDEO_ID, 1, {"video": video})

    storage.delete(VIDEO_ID, 1)
    # Attempt 10 shares the "1" prefix digit: deleting attempt 1 must not reach it.
    assert not storage.exists(VIDEO_ID, 1, "video")
    assert storage.exists(VIDEO_ID, 10, "video")

    storage.delete(VIDEO_ID)
    assert not storage.exists(VIDEO_ID, 10, "video")
    assert storage.exists(OTHER_VIDEO_ID, 1, "video")


def test_delete_pages_through_more_keys_than_one_batch(storage, raw_client, bucket, tmp_path, monkeypatch):
    monkeypatch.setattr(s3_module, "DELETE_BATCH", 2)
    files = {variant: write(tmp_path, variant, b"x") for variant in ("video", "thumbnail", "spritesheet")}
    for attempt in (1, 2):
        storage.put(VIDEO_ID, attempt, files)

    storage.delete(VIDEO_ID)
    assert raw_client.list_objects_v2(Bucket=bucket, Prefix=PREFIX).get("KeyCount") == 0


def test_refuses_keys_from_anything_but_a_video_id(storage, tmp_path):
    with pytest.raises(ValueError):
        storage.put("../escape", 1, {"video": write(tmp_path, "v.mp4", b"x")})
    with pytest.raises(ValueError):
        storage.delete("video_../../")


def test_create_bucket_tolerates_an_existing_bucket(s3_endpoint, bucket, tmp_path):
    first = make_storage(s3_endpoint, bucket)
    first.put(VIDEO_ID, 1, {"video": write(tmp_path, "v.mp4", b"kept")})
    second = make_storage(s3_endpoint, bucket)
    assert second.read_bytes(VIDEO_ID, 1, "video") == b"kept"


def test_factory_builds_s3_storage_from_environment(s3_endpoint, bucket, monkeypatch):
    environment = {
        "T2V_S3_BUCKET": bucket,
        "T2V_S3_ENDPOINT_URL": s3_endpoint,
        "T2V_S3_ACCESS_KEY_ID": "testing",
        "T2V_S3_SECRET_ACCESS_KEY": "testing",
        "T2V_S3_ADDRESSING_STYLE": "path",
        "T2V_S3_CREATE_BUCKET": "true",
        "T2V_S3_SERVE": "redirect",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    storage = get_storage(Settings(storage="s3"))
    assert isinstance(storage, S3Storage)
    assert storage.settings.serve == "redirect"
    assert storage.client.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
