"""Webhooks end to end: the API, a render worker and a notify worker as real processes, and a
real receiver on 127.0.0.1 (allowed through T2V_WEBHOOK_ALLOWED_HOSTS) in its failure modes."""

import json
import time
import uuid
import warnings

import httpx
import openai
import pytest
from openai import OpenAI
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer
from standardwebhooks import Webhook, WebhookVerificationError

from app.embedded_redis import free_port
from app.queueing import queue
from app.webhooks.deliveries import NOTIFY_QUEUE, DeliveryStore
from app.webhooks.signing import new_secret
from tests.support import start_api, start_worker, wait_until
from tests.webhook_receiver import WebhookReceiver


RENDERED = "tiny-wan-webhooks"
# Nobody serves this model: its videos wait queued until a test cancels them, firing their event.
PARKED = "tiny-wan-webhooks-parked"
OLD_SECRET, NEW_SECRET = new_secret(), new_secret()
MAX_ATTEMPTS = 3


@pytest.fixture(scope="module")
def receiver():
    server = WebhookReceiver().start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def hook_env(env, receiver) -> dict[str, str]:
    return {
        **env,
        # Two secrets, as during a rotation: every delivery must verify with either one.
        "T2V_WEBHOOK_SECRET": f"{OLD_SECRET} {NEW_SECRET}",
        "T2V_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "T2V_WEBHOOK_URLS": receiver.url("ok", "every-event"),
        "T2V_WEBHOOK_TIMEOUT_S": "1",
        "T2V_WEBHOOK_RETRY_SCHEDULE_S": "0.2,0.5",
        "T2V_WEBHOOK_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    }


@pytest.fixture(scope="module")
def base(hook_env, tmp_path_factory):
    api, url = start_api(hook_env, free_port(), tmp_path_factory.mktemp("webhooks-api"))
    yield url
    api.stop()


class NotifyWorker:
    """The module's `notify` worker, which one test stops and starts again."""

    def __init__(self, hook_env, redis, log_dir):
        self.hook_env, self.redis, self.log_dir = hook_env, redis, log_dir
        self.service = None

    def start(self):
        self.service = start_worker(self.hook_env, self.redis, self.log_dir, [], [NOTIFY_QUEUE])

    def stop(self):
        self.service.stop()


@pytest.fixture(scope="module")
def notify_worker(hook_env, redis, tmp_path_factory):
    worker = NotifyWorker(hook_env, redis, tmp_path_factory.mktemp("webhooks-notify"))
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def render_worker(hook_env, redis, tmp_path_factory):
    worker = start_worker(hook_env, redis, tmp_path_factory.mktemp("webhooks-render"), [RENDERED])
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def client(base) -> OpenAI:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    return OpenAI(base_url=f"{base}/v1", api_key="test-key", max_retries=0)


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:12]


def _deliveries(base: str, video_id: str, source: str = "request") -> list[dict]:
    response = httpx.get(f"{base}/v1/videos/{video_id}/webhooks", timeout=10)
    response.raise_for_status()
    return [d for d in response.json()["data"] if d["source"] == source]


def _settled(base: str, video_id: str, status: str):
    def check():
        found = _deliveries(base, video_id)
        return found if found and all(d["status"] == status for d in found) else None

    return check


def _cancelled_video(base: str, url: str, events: list[str] | None = None) -> str:
    """A parked video with a webhook, cancelled at once: its `video.cancelled` event goes out."""
    body = {"prompt": "a grey cube", "model": PARKED, "webhook_url": url}
    if events is not None:
        body["webhook_events"] = events
    created = httpx.post(f"{base}/v1/videos", json=body, timeout=10)
    assert created.status_code == 200, created.text
    video_id = created.json()["id"]
    assert httpx.post(f"{base}/v1/videos/{video_id}/cancel", timeout=10).status_code == 200
    return video_id


def _scheduled_attempts(redis, delivery_id: str) -> list[list]:
    """The arguments of the notify jobs scheduled for a delivery (retries and guards)."""
    scheduled = ScheduledJobRegistry(queue=queue(NOTIFY_QUEUE, redis))
    jobs = Job.fetch_many(scheduled.get_job_ids(), connection=redis, serializer=JSONSerializer)
    return [list(job.args) for job in jobs if job is not None and job.args[0] == delivery_id]


def _verify_with_both_secrets(request) -> dict:
    """Each of the two rotating secrets verifies the delivery on its own; returns the event."""
    event = Webhook(OLD_SECRET).verify(request.body, request.headers)
    assert Webhook(NEW_SECRET).verify(request.body, request.headers) == event
    return event


def test_lifecycle_events_are_signed_and_verify_with_standardwebhooks_and_openai(
    base, client, receiver, notify_worker, render_worker, tag
):
    wanted = ["video.queued", "video.in_progress", "video.completed"]
    video = client.videos.create_and_poll(
        prompt="a red ball rolling",
        model=RENDERED,
        extra_body={"webhook_url": receiver.url("ok", tag), "webhook_events": wanted},
        poll_interval_ms=100,
    )
    assert video.status == "completed", video.error

    requests = wait_until(lambda: len(receiver.requests_to("ok", tag)) >= 3 and receiver.requests_to("ok", tag))
    events = {}
    for request in requests:
        event = _verify_with_both_secrets(request)
        assert request.headers["content-type"] == "application/json"
        assert request.headers["webhook-id"].startswith("msg_")
        client.webhooks.verify_signature(request.body, request.headers, secret=OLD_SECRET)
        client.webhooks.verify_signature(request.body, request.headers, secret=NEW_SECRET)
        events[event["type"]] = event
    assert sorted(events) == sorted(wanted)
    completed = events["video.completed"]
    assert completed["object"] == "event" and completed["id"].startswith("evt_")
    assert isinstance(completed["created_at"], int)
    assert completed["data"]["id"] == video.id and completed["data"]["status"] == "completed"
    assert completed["data"]["progress"] == 100 and completed["data"]["object"] == "video"
    assert events["video.queued"]["data"]["status"] == "queued"
    assert events["video.in_progress"]["data"]["status"] == "in_progress"

    (done,) = [r for r in requests if json.loads(r.body)["type"] == "video.completed"]
    unwrapped = client.webhooks.unwrap(done.body, done.headers, secret=NEW_SECRET)
    assert unwrapped.type == "video.completed" and unwrapped.data.id == video.id

    tampered = done.body.replace(b'"completed"', b'"failed"', 1)
    assert tampered != done.body
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD_SECRET).verify(tampered, done.headers)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        client.webhooks.unwrap(tampered, done.headers, secret=OLD_SECRET)

    # The operator's endpoint gets every event, without asking.
    def operator_events():
        seen = [json.loads(r.body) for r in receiver.requests_to("ok", "every-event")]
        return sorted(e["type"] for e in seen if e["data"]["id"] == video.id)

    assert wait_until(lambda: operator_events() == sorted(wanted) and operator_events())

    listed = wait_until(_settled(base, video.id, "delivered"))
    assert sorted(d["event_type"] for d in listed) == sorted(wanted)
    for delivery in listed:
        assert delivery["object"] == "video.webhook_delivery" and delivery["url"] == receiver.url("ok", tag)
        assert delivery["attempts"] == 1 and delivery["last_status_code"] == 200
        assert delivery["next_attempt_at"] is None and delivery["delivered_at"] >= delivery["created_at"]
    assert len(_deliveries(base, video.id, source="settings")) == 3


def test_failing_receiver_gets_the_same_webhook_id_until_it_answers_2xx(base, receiver, notify_worker, tag):
    video_id = _cancelled_video(base, receiver.url("fail-twice", tag))

    (delivery,) = wait_until(_settled(base, video_id, "delivered"), timeout_s=60)
    assert delivery["event_type"] == "video.cancelled"
    assert delivery["attempts"] == 3 and delivery["last_status_code"] == 200
    requests = receiver.requests_to("fail-twice", tag)
    assert len(requests) == 3
    assert {r.headers["webhook-id"] for r in requests} == {delivery["id"]}
    assert {r.body for r in requests} == {requests[0].body}
    timestamps = [int(r.headers["webhook-timestamp"]) for r in requests]
    assert timestamps == sorted(timestamps)
    for request in requests:
        assert _verify_with_both_secrets(request)["data"]["status"] == "cancelled"


def test_a_hanging_receiver_blocks_neither_rendering_nor_other_deliveries(
    base, client, receiver, notify_worker, render_worker, tag
):
    hung = client.videos.create_and_poll(
        prompt="a blue cone",
        model=RENDERED,
        extra_body={"webhook_url": receiver.url("hang", tag), "webhook_events": ["video.in_progress"]},
        poll_interval_ms=100,
    )
    assert hung.status == "completed"
    fine = _cancelled_video(base, receiver.url("ok", tag))

    wait_until(_settled(base, fine, "delivered"), timeout_s=30)
    assert len(receiver.requests_to("ok", tag)) == 1
    (timed_out,) = wait_until(_settled(base, hung.id, "failed"), timeout_s=60)
    assert timed_out["attempts"] == MAX_ATTEMPTS and "timed out" in timed_out["last_error"]
    assert timed_out["last_status_code"] is None
    assert len(receiver.requests_to("hang", tag)) == MAX_ATTEMPTS


def test_a_redirect_is_a_failure_and_is_not_followed(base, receiver, notify_worker, tag):
    video_id = _cancelled_video(base, receiver.url("redirect", tag))

    (delivery,) = wait_until(_settled(base, video_id, "failed"), timeout_s=60)
    assert delivery["last_status_code"] == 302 and "not followed" in delivery["last_error"]
    assert len(receiver.requests_to("redirect", tag)) == MAX_ATTEMPTS
    assert receiver.requests_to("landed", tag) == []


def test_410_disables_the_endpoint_until_a_manual_retry(base, receiver, notify_worker, tag):
    url = receiver.url("gone", tag)
    first = _cancelled_video(base, url)
    (gone,) = wait_until(_settled(base, first, "disabled"))
    assert gone["attempts"] == 1 and gone["last_status_code"] == 410

    # Later events for that URL are not sent at all.
    second = _cancelled_video(base, url)
    (skipped,) = wait_until(_settled(base, second, "disabled"))
    assert skipped["last_status_code"] is None and "410" in skipped["last_error"]
    assert len(receiver.requests_to("gone", tag)) == 1

    # A manual retry re-enables the endpoint and sends the same message again; the client's own
    # retry of that POST (same Idempotency-Key) gets the first answer and sends nothing more.
    retry_url, once = f"{base}/v1/videos/{first}/webhooks/{gone['id']}/retry", {"Idempotency-Key": f"retry-{tag}"}
    retried = httpx.post(retry_url, headers=once, timeout=10)
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    replayed = httpx.post(retry_url, headers=once, timeout=10)
    assert replayed.headers["idempotent-replayed"] == "true" and replayed.json() == retried.json()
    wait_until(lambda: len(receiver.requests_to("gone", tag)) == 2)
    (_again,) = wait_until(lambda: [d for d in _settled(base, first, "disabled")() or [] if d["attempts"] == 2])
    assert {r.headers["webhook-id"] for r in receiver.requests_to("gone", tag)} == {gone["id"]}

    missing = httpx.post(f"{base}/v1/videos/{second}/webhooks/{gone['id']}/retry", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "delivery_id"


def test_retry_after_on_429_is_honoured(base, receiver, notify_worker, tag):
    video_id = _cancelled_video(base, receiver.url("busy", tag, "retry_after=2"))

    (delivery,) = wait_until(_settled(base, video_id, "delivered"), timeout_s=30)
    first, second = receiver.requests_to("busy", tag)
    assert delivery["attempts"] == 2
    # The retry schedule alone would have come back within a second.
    assert second.at - first.at >= 2.0


def test_a_scheduled_retry_survives_a_notify_worker_restart(base, redis, receiver, notify_worker, tag):
    video_id = _cancelled_video(base, receiver.url("busy", tag, "retry_after=3"))

    def waiting_for_retry():
        found = _deliveries(base, video_id)
        return found and found[0]["attempts"] == 1 and found[0]["next_attempt_at"] is not None and found[0]

    delivery = wait_until(waiting_for_retry)
    notify_worker.stop()
    # With no worker running, the retry exists only as a scheduled job in Redis.
    assert _scheduled_attempts(redis, delivery["id"]) == [[delivery["id"], 2]]
    assert len(receiver.requests_to("busy", tag)) == 1

    notify_worker.start()
    (delivered,) = wait_until(_settled(base, video_id, "delivered"), timeout_s=30)
    assert delivered["attempts"] == 2
    assert {r.headers["webhook-id"] for r in receiver.requests_to("busy", tag)} == {delivery["id"]}


def test_webhook_events_in_multipart_forms(base, receiver, notify_worker, tag):
    # Comma-separated in one field, or the field repeated; sent as multipart/form-data like the SDK.
    for index, events in enumerate([["video.queued, video.cancelled"], ["video.queued", "video.cancelled"]]):
        url = receiver.url("ok", f"{tag}-{index}")
        fields = [("prompt", "a green cylinder"), ("model", PARKED), ("webhook_url", url)]
        fields += [("webhook_events", event) for event in events]
        parts = [(name, (None, value)) for name, value in fields]
        request = httpx.Request("POST", f"{base}/videos", files=parts)
        assert request.headers["content-type"].startswith("multipart/form-data")
        with httpx.Client(timeout=10) as http:
            created = http.send(request)
        assert created.status_code == 200, created.text
        video_id = created.json()["id"]
        httpx.post(f"{base}/videos/{video_id}/cancel", timeout=10).raise_for_status()
        listed = wait_until(_settled(base, video_id, "delivered"))
        assert sorted(d["event_type"] for d in listed) == ["video.cancelled", "video.queued"]


def test_listing_needs_a_known_video(base):
    response = httpx.get(f"{base}/videos/video_{'0' * 32}/webhooks", timeout=10)
    assert response.status_code == 404 and response.json()["error"]["code"] == "video_not_found"


def test_an_attempt_whose_worker_died_is_made_again_by_its_guard(base, redis, receiver, notify_worker, tag):
    notify_worker.stop()
    try:
        video_id = _cancelled_video(base, receiver.url("ok", tag))
        (delivery,) = _deliveries(base, video_id)
        # Claim the first attempt the way a worker does, then never finish it: a worker killed
        # mid-send leaves exactly this behind (its queued job then finds the attempt taken).
        assert DeliveryStore(redis).begin(delivery["id"], 1, timeout_s=1) is not None
        claimed = DeliveryStore(redis).get(delivery["id"])
        assert claimed["attempts"] == 1 and claimed["lease_until"] > time.time()
        busy = httpx.post(f"{base}/v1/videos/{video_id}/webhooks/{delivery['id']}/retry", timeout=10)
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "delivery_in_flight"
    finally:
        notify_worker.start()

    (resumed,) = wait_until(_settled(base, video_id, "delivered"), timeout_s=60)
    assert resumed["attempts"] == 1
    (request,) = receiver.requests_to("ok", tag)
    assert request.headers["webhook-id"] == delivery["id"]
    # Once the attempt ended, its guard is gone: nothing of this delivery is left scheduled.
    assert _scheduled_attempts(redis, delivery["id"]) == []
