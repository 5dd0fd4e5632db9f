"""Delivery records in Redis, and the notify jobs that carry them out.

One hash per delivery (`t2v:webhook:delivery:<msg_id>`, JSON values like the video record) and
one list of delivery ids per video, so the API can list them. The delivery id is the
`webhook-id` header: the same on every attempt, so receivers can deduplicate.

Attempts are RQ jobs on the `notify` queue; a retry is a job scheduled with RQ's scheduled-job
registry (kept in Redis, so a schedule survives worker restarts). A job names the attempt it
makes and claims it with a Lua check, so a duplicate job (RQ delivers at least once, and a
manual retry may race a scheduled one) never sends twice.
"""

import json
import math
import time
from datetime import UTC, datetime
from enum import StrEnum

from redis import Redis
from redis.client import Pipeline
from rq import Queue

from app.queueing import queue

NOTIFY_QUEUE = "notify"
NOTIFY_JOB = "workers.notify.deliver_webhook"
# Long enough to read what happened after the last retry of the default schedule (~3 days).
DELIVERY_TTL_S = 30 * 24 * 3600
# Finished notify jobs are of no interest: the delivery record keeps the outcome.
NOTIFY_RESULT_TTL_S = 600
DISABLED_ENDPOINTS = "t2v:webhook:disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # an attempt is queued, running or scheduled
    DELIVERED = "delivered"  # a 2xx arrived
    FAILED = "failed"  # out of attempts
    DISABLED = "disabled"  # the endpoint answered 410 Gone (now or earlier)
    REFUSED = "refused"  # the URL failed the send-time safety check


def delivery_key(delivery_id: str) -> str:
    return f"t2v:webhook:delivery:{delivery_id}"


def video_deliveries_key(video_id: str) -> str:
    return f"t2v:video:{video_id}:webhooks"


def _encode(fields: dict) -> dict[str, str]:
    return {k: json.dumps(v) for k, v in fields.items()}


# KEYS[1] delivery; ARGV[1] the attempt number the job makes, ARGV[2] now (JSON number).
# Only a pending delivery whose previous attempt was ARGV[1]-1 can be claimed.
_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or cjson.decode(status) ~= 'pending' then return 0 end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if attempts + 1 ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'attempts', ARGV[1], 'last_attempt_at', ARGV[2], 'next_attempt_at', 'null')
return 1
"""


def _job_options(timeout_s: float) -> dict:
    # A hung receiver is cut off by the HTTP timeouts; the job timeout is only the backstop.
    return {"timeout": int(timeout_s * 3) + 30, "result_ttl": NOTIFY_RESULT_TTL_S, "failure_ttl": DELIVERY_TTL_S}


class DeliveryStore:
    def __init__(self, redis: Redis):
        self.redis = redis
        self._claim = redis.register_script(_CLAIM)

    def add(self, delivery: dict, pipe: Pipeline, timeout_s: float) -> None:
        """Queue the writes of a new delivery and its first attempt on `pipe`."""
        key, listing = delivery_key(delivery["id"]), video_deliveries_key(delivery["video_id"])
        pipe.hset(key, mapping=_encode(delivery))
        pipe.expire(key, DELIVERY_TTL_S)
        pipe.rpush(listing, delivery["id"])
        pipe.expire(listing, DELIVERY_TTL_S)
        notify = queue(NOTIFY_QUEUE, self.redis)
        data = Queue.prepare_data(NOTIFY_JOB, args=[delivery["id"], 1], **_job_options(timeout_s))
        notify.enqueue_many([data], pipeline=pipe)

    def get(self, delivery_id: str) -> dict | None:
        raw = self.redis.hgetall(delivery_key(delivery_id))
        return {k.decode(): json.loads(v) for k, v in raw.items()} if raw else None

    def for_video(self, video_id: str) -> list[dict]:
        ids = [v.decode() for v in self.redis.lrange(video_deliveries_key(video_id), 0, -1)]
        with self.redis.pipeline(transaction=False) as pipe:
            for delivery_id in ids:
                pipe.hgetall(delivery_key(delivery_id))
            rows = pipe.execute()
        return [{k.decode(): json.loads(v) for k, v in row.items()} for row in rows if row]

    def claim(self, delivery_id: str, attempt: int) -> bool:
        return bool(self._claim(keys=[delivery_key(delivery_id)], args=[attempt, json.dumps(time.time())]))

    def finish(self, delivery_id: str, status: DeliveryStatus, **fields) -> None:
        fields = {"status": status.value, "next_attempt_at": None, **fields}
        if status == DeliveryStatus.DELIVERED:
            fields["delivered_at"] = time.time()
        self.redis.hset(delivery_key(delivery_id), mapping=_encode(fields))

    def schedule_retry(self, delivery_id: str, attempt: int, delay_s: float, timeout_s: float, **fields) -> int:
        """Record the failed attempt and schedule attempt number `attempt`, in one transaction."""
        # RQ keeps whole seconds and rounds down; rounding up keeps a retry-after from being cut short.
        due = math.ceil(time.time() + delay_s)
        notify = queue(NOTIFY_QUEUE, self.redis)
        job = notify.create_job(NOTIFY_JOB, args=[delivery_id, attempt], **_job_options(timeout_s))
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(delivery_key(delivery_id), mapping=_encode({**fields, "next_attempt_at": due}))
            notify.schedule_job(job, datetime.fromtimestamp(due, UTC), pipeline=pipe)
            pipe.execute()
        return due

    def retry_now(self, delivery: dict, timeout_s: float) -> dict:
        """A manual resend: reopen the delivery (and its endpoint, if a 410 disabled it)."""
        attempt = delivery["attempts"] + 1
        notify = queue(NOTIFY_QUEUE, self.redis)
        data = Queue.prepare_data(NOTIFY_JOB, args=[delivery["id"], attempt], **_job_options(timeout_s))
        fields = {"status": DeliveryStatus.PENDING.value, "next_attempt_at": time.time()}
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(delivery_key(delivery["id"]), mapping=_encode(fields))
            pipe.hdel(DISABLED_ENDPOINTS, delivery["url"])
            notify.enqueue_many([data], pipeline=pipe)
            pipe.execute()
        return {**delivery, **fields}

    def disable_endpoint(self, url: str) -> None:
        self.redis.hset(DISABLED_ENDPOINTS, url, json.dumps(time.time()))

    def is_disabled(self, url: str) -> bool:
        return bool(self.redis.hexists(DISABLED_ENDPOINTS, url))
