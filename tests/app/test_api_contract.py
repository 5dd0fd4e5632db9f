"""The HTTP contract: shapes, error envelopes, headers, Range, health and metrics."""

import httpx
import pytest

from app.embedded_redis import free_port
from tests.support import base_env, start_api


BAD_REQUESTS = [
    ({"prompt": "x", "size": "100x64"}, "size", "multiples of 16"),
    ({"prompt": "x", "size": "huge"}, "size", "WIDTHxHEIGHT"),
    ({"prompt": "x", "size": "4096x4096"}, "size", "between 16 and 128"),
    ({"prompt": "x", "seconds": "61"}, "seconds", "cap of 60 seconds"),
    ({"prompt": "x", "seconds": "-1"}, "seconds", "positive"),
    ({"prompt": "x", "seconds": "soon"}, "seconds", "not a number"),
    ({"prompt": ""}, "prompt", "at least 1 character"),
    ({"prompt": "   "}, "prompt", "blank"),
    ({}, "prompt", "required"),
    ({"prompt": "x", "model": "no-such-model"}, "model", "available models"),
    ({"prompt": "x", "num_inference_steps": 5000}, "num_inference_steps", "maximum"),
    ({"prompt": "x", "seed": -3}, "seed", "greater than or equal"),
    (
        {"prompt": "x", "input_reference": {"image_url": "http://93.184.216.34/a.png"}},
        "input_reference.image_url",
        "must use https",
    ),
    ({"prompt": "x", "input_reference": {"file_id": "file_123"}}, "input_reference.file_id", "image_url"),
]


def _queued_everywhere(redis) -> tuple[int, int]:
    queued_jobs = sum(redis.llen(k) for k in redis.scan_iter("rq:queue:*") if redis.type(k) == b"list")
    return queued_jobs, redis.scard("t2v:videos:active")


@pytest.mark.parametrize(("body", "param", "fragment"), BAD_REQUESTS)
def test_bad_input_is_a_400_envelope_and_queues_nothing(api_url, redis, body, param, fragment):
    before = _queued_everywhere(redis)
    for prefix in ("/v1", ""):
        response = httpx.post(f"{api_url}{prefix}/videos", json=body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error" and error["param"] == param
        assert fragment in error["message"]
    assert _queued_everywhere(redis) == before


def test_malformed_multipart_and_wrong_content_type(api_url, redis):
    before = _queued_everywhere(redis)
    broken = httpx.post(
        f"{api_url}/v1/videos",
        content=b'--XYZ\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nunterminated',
        headers={"content-type": "multipart/form-data; boundary=XYZ"},
    )
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request_error"
    text = httpx.post(f"{api_url}/v1/videos", content=b"prompt=x", headers={"content-type": "text/plain"})
    assert text.status_code == 400 and text.json()["error"]["code"] == "unsupported_media_type"
    bad_json = httpx.post(f"{api_url}/v1/videos", content=b"{nope", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "invalid_json"
    assert _queued_everywhere(redis) == before


def test_multipart_with_numbers_and_unknown_fields_is_accepted(api_url):
    response = httpx.post(
        f"{api_url}/videos",
        files={"prompt": (None, "a cat"), "seconds": (None, "1"), "mystery": (None, "ignored"), "fps": (None, "16")},
    )
    assert response.status_code == 200, response.text
    video = response.json()
    assert video["seconds"] == "1" and video["fps"] == 16 and video["num_frames"] == 17
    assert response.headers["openai-poll-after-ms"] == "100"
    json_body = httpx.post(f"{api_url}/videos", json={"prompt": "a cat", "seconds": 2, "whatever": [1]}).json()
    assert json_body["seconds"] == "2"
    # Every OpenAI field is present, nullable ones as null.
    for field in ("completed_at", "remixed_from_video_id", "error"):
        assert field in json_body and json_body[field] is None


def test_unknown_ids_are_404_and_unfinished_content_is_409(api_url):
    for path in ("/v1/videos/video_" + "0" * 32, "/v1/videos/not-an-id", "/v1/videos/../../etc/passwd/content"):
        response = httpx.get(f"{api_url}{path}")
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "invalid_request_error"
    queued = httpx.post(f"{api_url}/v1/videos", json={"prompt": "nobody renders this", "model": "tiny-wan-slow"})
    content = httpx.get(f"{api_url}/v1/videos/{queued.json()['id']}/content")
    assert content.status_code == 409 and content.json()["error"]["code"] == "video_not_ready"
    assert content.headers["x-should-retry"] == "false"
    httpx.delete(f"{api_url}/v1/videos/{queued.json()['id']}")


def test_range_requests_on_the_mp4(api_url, client):
    video = client.videos.create_and_poll(prompt="range me", poll_interval_ms=100)
    url = f"{api_url}/v1/videos/{video.id}/content"
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.headers.get("accept-ranges") == "bytes"
    part = httpx.get(url, headers={"range": "bytes=10-99"})
    assert part.status_code == 206
    assert part.content == whole.content[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{len(whole.content)}"
    beyond = httpx.get(url, headers={"range": f"bytes={len(whole.content) + 10}-"})
    assert beyond.status_code == 416
    # faststart: the index (moov) comes before the media data (mdat).
    assert whole.content.index(b"moov") < whole.content.index(b"mdat")


def test_health_readiness_and_metrics(api_url, client):
    client.videos.create_and_poll(prompt="for the metrics", poll_interval_ms=100)
    assert httpx.get(f"{api_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{api_url}/readyz").json()
    assert ready["redis"] == "ok" and ready["models"]["tiny-wan"]["live"] is True
    assert ready["models"]["tiny-wan-slow"]["live"] is False
    metrics = httpx.get(f"{api_url}/metrics").text
    for family in (
        't2v_http_requests_total{method="POST",route="/v1/videos",status="200"}',
        't2v_queue_depth{queue="render:tiny-wan"}',
        't2v_videos_final_total{status="completed"}',
        't2v_phase_seconds_bucket{le="+Inf",phase="denoise"}',
        't2v_phase_seconds_count{phase="encode"}',
        't2v_step_seconds_count{model="tiny-wan"}',
    ):
        assert family in metrics, family


def test_models_endpoint_lists_catalog_with_liveness(api_url, default_worker):
    models = httpx.get(f"{api_url}/v1/models").json()["data"]
    by_name = {m["id"]: m for m in models}
    assert by_name["tiny-wan"]["live"] is True and by_name["tiny-wan"]["frame_rule"] == "4k+1"
    assert by_name["tiny-wan-b"]["live"] in (True, False)
    assert httpx.get(f"{api_url}/v1/models/nope").status_code == 404


def test_redis_down_is_503_with_retry_after_never_500(tmp_path, data_dir):
    from tests.conftest import TEST_CATALOG

    dead = f"redis://127.0.0.1:{free_port()}/0"
    api, base = start_api(base_env(dead, data_dir, TEST_CATALOG), free_port(), tmp_path)
    try:
        for method, path in (
            ("POST", "/v1/videos"),
            ("GET", "/v1/videos"),
            ("GET", "/v1/videos/video_" + "a" * 32),
            ("GET", "/v1/models"),
        ):
            response = httpx.request(method, f"{base}{path}", json={"prompt": "x"}, timeout=20)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["retry-after"]
            assert response.json()["error"]["type"] == "server_error"
        ready = httpx.get(f"{base}/readyz", timeout=20)
        assert ready.status_code == 503 and httpx.get(f"{base}/healthz").status_code == 200
        assert "t2v_redis_up 0.0" in httpx.get(f"{base}/metrics", timeout=20).text
    finally:
        api.stop()
