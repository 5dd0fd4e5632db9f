"""Tenant limits (429 + retry-after), the body size limit (413) and Idempotency-Key, on a real API."""

import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from openai import OpenAI

from tests.tenants import new_key, private_api


MODEL = "tiny-limits"
PER_MINUTE = 25
MAX_ACTIVE = 3
MAX_BODY = 4096
METRICS_TOKEN = "scrape-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with private_api(
        tmp_path_factory.mktemp("limits"),
        T2V_RATE_LIMIT_PER_MINUTE=str(PER_MINUTE),
        T2V_MAX_ACTIVE_VIDEOS_PER_TENANT=str(MAX_ACTIVE),
        T2V_MAX_BODY_BYTES=str(MAX_BODY),
        # Create takes uploads (input_reference), so its bodies are bounded by the upload limit.
        T2V_MAX_UPLOAD_BYTES=str(MAX_BODY),
        T2V_METRICS_TOKEN=METRICS_TOKEN,
    ) as api:
        yield api


@pytest.fixture
def key(api, request) -> str:
    # Each test is its own tenant, so one test's requests never count against another's limits.
    tenant = request.node.name.split("[")[0].removeprefix("test_")[:60]
    return new_key(api.env, request.node.name, tenant)


def create(api, key: str, prompt: str = "a paper boat", idempotency_key: str | None = None, **fields):
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return api.post("/v1/videos", key, headers=headers, json={"model": MODEL, "prompt": prompt, **fields})


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code, error
    return error


def test_requests_over_the_per_minute_rate_are_429_with_retry_after(api, key):
    # The window is a calendar minute: start early enough in one that the burst stays inside it.
    if time.time() % 60 > 50:
        time.sleep(60.5 - time.time() % 60)
    answers = [api.get("/v1/videos?limit=1", key).status_code for _ in range(PER_MINUTE + 3)]
    assert answers[:PER_MINUTE] == [200] * PER_MINUTE and answers[PER_MINUTE:] == [429] * 3
    refused = api.get("/v1/videos", key)
    error = assert_envelope(refused, 429, "rate_limit_exceeded")
    assert error["type"] == "rate_limit_exceeded"
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 60 and abs(retry_after - (60 - time.time() % 60)) <= 2
    # Every route under the API counts, and the SDK sees a RateLimitError.
    assert api.get("/v1/models", key).status_code == 429
    client = OpenAI(base_url=f"{api.base}/v1", api_key=key, max_retries=0)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    with pytest.raises(openai.RateLimitError):
        client.videos.list()
    # Other tenants and the health checks are not affected.
    other = new_key(api.env, "bystander", "bystander")
    assert api.get("/v1/videos", other).status_code == 200
    assert api.get("/healthz").status_code == 200


def test_too_many_unfinished_videos_is_429_until_one_finishes(api, key):
    ids = [create(api, key).json()["id"] for _ in range(MAX_ACTIVE)]
    refused = create(api, key)
    assert_envelope(refused, 429, "too_many_active_videos")
    assert int(refused.headers["retry-after"]) >= 1
    assert api.post(f"/v1/videos/{ids[0]}/cancel", key).status_code == 200
    assert create(api, key).status_code == 200


def test_concurrent_creates_never_overshoot_the_unfinished_video_limit(api, key):
    # The count is checked inside the create's own transaction: a burst gets exactly the limit.
    with ThreadPoolExecutor(max_workers=4 * MAX_ACTIVE) as pool:
        answers = list(pool.map(lambda i: create(api, key, prompt=f"burst {i}"), range(4 * MAX_ACTIVE)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * MAX_ACTIVE + [429] * (3 * MAX_ACTIVE), codes
    for answer in answers:
        if answer.status_code == 200:
            api.post(f"/v1/videos/{answer.json()['id']}/cancel", key)


def test_queued_videos_report_their_place_in_the_queue(api, key):
    first, second = create(api, key).json(), create(api, key).json()
    # Nobody serves this model: the jobs wait in render:tiny-limits, in order.
    assert second["queue_position"] == first["queue_position"] + 1
    assert api.get(f"/v1/videos/{second['id']}", key).json()["queue_position"] == second["queue_position"]
    api.post(f"/v1/videos/{first['id']}/cancel", key)
    moved = api.get(f"/v1/videos/{second['id']}", key).json()
    assert moved["queue_position"] == second["queue_position"] - 1
    listed = {v["id"]: v for v in api.get("/v1/videos", key).json()["data"]}
    assert (
        listed[first["id"]]["queue_position"] is None
        and listed[second["id"]]["queue_position"] == moved["queue_position"]
    )
    api.post(f"/v1/videos/{second['id']}/cancel", key)


def test_bodies_over_the_limit_are_413_whether_declared_or_streamed(api, key):
    big_prompt = "x" * (MAX_BODY + 10)
    declared = create(api, key, big_prompt)
    assert_envelope(declared, 413, "request_too_large")

    def chunks():
        # No Content-Length: the server has to count as the body arrives.
        yield b'{"model": "tiny-limits", "prompt": "'
        for _ in range(8):
            yield b"y" * 1024
        yield b'"}'

    streamed = api.post("/v1/videos", key, headers={"content-type": "application/json"}, content=chunks())
    assert_envelope(streamed, 413, "request_too_large")
    multipart = api.post("/v1/videos", key, files={"prompt": (None, big_prompt), "model": (None, MODEL)})
    assert_envelope(multipart, 413, "request_too_large")
    small_streamed = api.post(
        "/v1/videos",
        key,
        headers={"content-type": "application/json"},
        content=iter([b'{"model": "tiny-limits", ', b'"prompt": "ok"}']),
    )
    assert small_streamed.status_code == 200, small_streamed.text
    assert len(api.get("/v1/videos?limit=100", key).json()["data"]) == 1


def test_idempotency_key_replays_the_same_video_and_refuses_another_body(api, key):
    idem = str(uuid.uuid4())
    first = create(api, key, "a kite", idem)
    again = create(api, key, "a kite", idem)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert_envelope(create(api, key, "a different kite", idem), 409, "idempotency_key_reused")
    # The SDK's multipart form (its own boundary each time) counts as the same body.
    client = OpenAI(base_url=f"{api.base}/v1", api_key=key, max_retries=0)
    sdk_key = str(uuid.uuid4())
    made = [
        client.videos.create(model=MODEL, prompt="a kite", extra_headers={"Idempotency-Key": sdk_key}).id
        for _ in range(2)
    ]
    assert made[0] == made[1] != first.json()["id"]
    ids = [v["id"] for v in api.get("/v1/videos?limit=100", key).json()["data"]]
    assert sorted(ids) == sorted({first.json()["id"], made[0]})
    # Keys are per tenant: another tenant's use of the same key is its own request.
    other = new_key(api.env, "other idempotency tenant", "idem-other")
    theirs = create(api, other, "a kite", idem)
    assert theirs.status_code == 200 and theirs.json()["id"] != first.json()["id"]
    for video_id in ids:
        api.post(f"/v1/videos/{video_id}/cancel", key)
    api.post(f"/v1/videos/{theirs.json()['id']}/cancel", other)


def test_concurrent_requests_with_one_idempotency_key_make_one_video(api, key):
    idem = str(uuid.uuid4())
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: create(api, key, "a crowd", idem), range(6)))
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(api.get("/v1/videos?limit=100", key).json()["data"]) == 1
    video_id = answers[0].json()["id"]
    cancel_key = str(uuid.uuid4())
    cancels = [
        api.post(f"/v1/videos/{video_id}/cancel", key, headers={"Idempotency-Key": cancel_key}) for _ in range(2)
    ]
    assert [c.status_code for c in cancels] == [200, 200] and cancels[0].json() == cancels[1].json()
    # Without a key, cancelling a cancelled video is the usual 409.
    assert api.post(f"/v1/videos/{video_id}/cancel", key).status_code == 409


def test_a_failed_request_does_not_use_up_its_idempotency_key(api, key):
    idem = str(uuid.uuid4())
    assert create(api, key, "x", idem, size="13x13").status_code == 400
    # Released, not remembered: the corrected retry runs instead of being a 409 for another body.
    fixed = create(api, key, "x", idem, size="32x32")
    assert fixed.status_code == 200 and "idempotent-replayed" not in fixed.headers
    api.post(f"/v1/videos/{fixed.json()['id']}/cancel", key)
    assert_envelope(create(api, key, "x", "k" * 256), 400, "invalid_value")


def test_metrics_need_the_metrics_token_when_one_is_set(api):
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": METRICS_TOKEN}):
        refused = httpx.get(f"{api.base}/metrics", headers=headers)
        assert_envelope(refused, 401, "invalid_metrics_token")
    scraped = httpx.get(f"{api.base}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200 and "t2v_redis_up 1.0" in scraped.text
