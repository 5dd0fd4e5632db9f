"""The event stream end to end: a real render worker, two real API processes, httpx reading
`text/event-stream` while the video renders."""

import threading

import httpx
import pytest

from app.embedded_redis import free_port
from app.events.slots import leases_key
from tests.event_fixtures import IDLE, RENDERED, create, events_worker  # noqa: F401 (a fixture)
from tests.sse_client import read_events
from tests.support import start_api, wait_until
from tests.tenants import bearer, new_key, private_api


STEPS = 24
STREAM_LIMIT = 4


@pytest.fixture(scope="module")
def second_api(env, tmp_path_factory):
    api, url = start_api(
        {**env, "T2V_MAX_STREAMS_PER_TENANT": str(STREAM_LIMIT)}, free_port(), tmp_path_factory.mktemp("api-2")
    )
    yield url
    api.stop()


def in_thread(target, *args, **kwargs) -> tuple[threading.Thread, dict]:
    out = {}

    def run():
        try:
            out["events"] = target(*args, **kwargs)
        except BaseException as exc:  # reported by the test thread
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def joined(thread, out) -> list:
    thread.join(timeout=120)
    assert not thread.is_alive(), "the stream did not end"
    if "error" in out:
        raise out["error"]
    return out["events"]


@pytest.mark.usefixtures("events_worker")
def test_a_render_streams_in_order_to_two_replicas_and_a_reconnect_resumes(api_url, second_api):
    video = create(api_url, RENDERED, size="64x64", num_inference_steps=STEPS)
    whole_a = in_thread(read_events, api_url, video["id"])
    whole_b = in_thread(read_events, second_api, video["id"])
    # A third client hangs up after the third step and reconnects to the other replica.
    first_part = read_events(api_url, video["id"], stop=lambda e: e.type == "progress" and e.data["step"] >= 3)
    rest = read_events(second_api, video["id"], last_event_id=first_part[-1].id)
    events, from_b = joined(*whole_a), joined(*whole_b)

    ids = [e.id for e in events]
    assert ids == [e.id for e in from_b]
    assert [e.id for e in first_part + rest] == ids, "the reconnect repeated or skipped events"
    assert len(set(ids)) == len(ids) and all(ids)

    types = [e.type for e in events]
    assert types[0] == "queued" and types[-1] == "completed"
    assert types.index("loading") < types.index("progress")
    progress = [e.data for e in events if e.type == "progress"]
    assert [p["step"] for p in progress] == list(range(1, STEPS + 1))
    assert {(p["chunk"], p["chunks"], p["steps"]) for p in progress} == {(1, 1, STEPS)}
    assert [p["percent"] for p in progress] == sorted(p["percent"] for p in progress)
    assert progress[0]["eta_s"] is None and all(p["eta_s"] is not None and p["eta_s"] >= 0 for p in progress[1:])
    assert progress[-1]["eta_s"] == 0 and progress[-1]["phase"] == "decoding"
    previews = [e.data for e in events if e.type == "preview"]
    assert previews, "no preview while denoising"
    assert all(0 < p["step"] < STEPS for p in previews)

    final = events[-1].data
    assert final["video"]["id"] == video["id"]
    assert final["video"]["status"] == "completed" and final["video"]["progress"] == 100

    image = httpx.get(f"{api_url}{previews[-1]['url']}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content[:3] == b"\xff\xd8\xff"

    # After the end: everything at once, final event last (a blocking read would time out).
    late = read_events(second_api, video["id"], read_timeout=3)
    assert [e.id for e in late] == ids
    resumed_at_end = read_events(api_url, video["id"], last_event_id=ids[-2], read_timeout=3)
    assert [e.type for e in resumed_at_end] == ["completed"]


def xread_clients(redis) -> list[dict]:
    return [c for c in redis.client_list() if c.get("cmd") == "xread"]


def test_a_client_that_hangs_up_leaves_no_reader_and_no_lease(api_url, redis):
    video = create(api_url, IDLE)
    # Counted from here: streams another test left closing must not decide this one.
    readers, leases = len(xread_clients(redis)), redis.zcard(leases_key("public"))
    with httpx.stream("GET", f"{api_url}/v1/videos/{video['id']}/events", timeout=10) as response:
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("event:")) == "event: queued"
        wait_until(lambda: len(xread_clients(redis)) > readers, timeout_s=10, what="the stream's blocking read")
        assert redis.zcard(leases_key("public")) == leases + 1
    # The client is gone: the server's read, its connection and the tenant's lease go with it.
    wait_until(lambda: len(xread_clients(redis)) <= readers, timeout_s=10, what="the blocked read to go")
    wait_until(lambda: redis.zcard(leases_key("public")) <= leases, timeout_s=10, what="the lease to be returned")
    assert httpx.delete(f"{api_url}/v1/videos/{video['id']}").status_code == 200


def test_refusals_come_before_the_stream_opens(api_url, second_api):
    for bad in ("video_" + "0" * 32, "nonsense"):
        response = httpx.get(f"{api_url}/v1/videos/{bad}/events")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "video_not_found"
    video = create(api_url, IDLE)
    url = f"{second_api}/videos/{video['id']}/events"
    response = httpx.get(url, headers={"Last-Event-ID": "not-an-id"})
    assert response.status_code == 400 and response.json()["error"]["param"].endswith("Last-Event-ID")

    streams = [httpx.stream("GET", url, timeout=10) for _ in range(STREAM_LIMIT)]
    try:
        for stream in streams:
            assert stream.__enter__().status_code == 200
        refused = httpx.get(url)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_streams" and refused.headers["retry-after"]
    finally:
        for stream in streams:
            stream.__exit__(None, None, None)
    # Given back when they close: a new stream opens again.
    wait_until(lambda: httpx.head(f"{second_api}/healthz") and _opens(url), timeout_s=10, what="a free slot")
    httpx.delete(f"{api_url}/v1/videos/{video['id']}")


def _opens(url: str) -> bool:
    events = read_events(
        url.split("/videos/")[0].removesuffix("/v1"), url.split("/videos/")[1].split("/")[0], stop=lambda e: True
    )
    return events[0].type == "queued"


def test_keys_apply_to_streams_and_browsers_may_send_them_as_query_or_cookie(tmp_path):
    with private_api(tmp_path) as api:
        key, other = new_key(api.env, "studio"), new_key(api.env, "someone-else")
        video = api.post("/v1/videos", key, json={"prompt": "a red ball", "model": IDLE}).json()
        path = f"/v1/videos/{video['id']}/events"
        assert api.get(path).status_code == 401
        assert api.get(path, "t2v_0000000000000000_wrong").status_code == 401
        assert api.get(path, other).status_code == 404
        assert api.get(path, params={"api_key": "t2v_0000000000000000_wrong"}).status_code == 401
        first = lambda e: True  # noqa: E731
        assert read_events(api.base, video["id"], headers=bearer(key), stop=first)[0].type == "queued"
        assert read_events(api.base, video["id"], params={"api_key": key}, stop=first)[0].type == "queued"
        assert read_events(api.base, video["id"], cookies={"t2v_api_key": key}, stop=first)[0].type == "queued"
        # Only the routes a browser can't send headers to take the key another way.
        assert api.get("/v1/videos", params={"api_key": key}).status_code == 401


def test_a_cancel_ends_the_stream_with_the_cancelled_video(api_url, redis):
    video = create(api_url, IDLE)
    reader = in_thread(read_events, api_url, video["id"])
    wait_until(lambda: xread_clients(redis), timeout_s=10, what="the stream to wait for events")
    assert httpx.post(f"{api_url}/v1/videos/{video['id']}/cancel").status_code == 200
    events = joined(*reader)
    assert [e.type for e in events] == ["queued", "cancelled"]
    assert events[0].data["queue_position"] >= 1
    assert events[-1].data["video"]["status"] == "cancelled"
    assert events[-1].data["video"]["error"]["code"] == "cancelled"
    httpx.delete(f"{api_url}/v1/videos/{video['id']}")
