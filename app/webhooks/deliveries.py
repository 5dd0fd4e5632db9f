"""Delivery records in Redis, and the notify jobs that carry them out.

One hash per delivery (`t2v:webhook:delivery:<msg_id>`, JSON values like the video record) and
one list of delivery ids per video, so the API can list them. The delivery id is the
`webhook-id` header: the same on every attempt, so receivers can deduplicate.

Attempts are RQ jobs on the `notify` queue; a retry is a job in RQ's scheduled-job registry (in
Redis, so a schedule survives worker restarts). A job names the attempt it makes and claims it
with a Lua check, so a duplicate job (RQ delivers at least once, and a manual retry may race a
scheduled one) never sends twice.

A claimed attempt holds a lease, and a guard job is scheduled for when the lease runs out. If
the worker dies mid-attempt (killed, or its job timed out), the guard finds the lease expired
and makes the attempt again; when the attempt ends normally the guard is removed.
"""

import json
import math
import time
from datetime import UTC, datetime

from redis import Redis
from redis.client import Pipeline
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from app.queueing import queue


NOTIFY_QUEUE = "notify"
NOTIFY_JOB = "workers.notify.deliver_webhook"
# Long enough to read what happened after the last retry of the default schedule (~3 days).
DELIVERY_TTL_S = 30 * 24 * 3600
# Finished notify jobs are of no interest: the delivery record keeps the outcome.
NOTIFY_RESULT_TTL_S = 600
DISABLED_ENDPOINTS = "t2v:webhook:disabled"

PENDING = "pending"  # an attempt is queued, running or scheduled
DELIVERED = "delivered"  # a 2xx arrived
FAILED = "failed"  # out of attempts
DISABLED = "disabled"  # the endpoint answered 410 Gone (now or earlier)
REFUSED = "refused"  # the URL failed the send-time safety check


def delivery_key(delivery_id: str) -> str:
    return f"t2v:webhook:delivery:{delivery_id}"


def video_deliveries_key(video_id: str) -> str:
    return f"t2v:video:{video_id}:webhooks"


def attempt_timeout_s(timeout_s: float) -> int:
    """The most one attempt can take: connect, write and first byte, each within the HTTP timeout,
    the capped body within two more, and a margin for resolving the host. The job timeout and the
    attempt lease are this long."""
    return int(timeout_s * 5) + 5


def _encode(fields: dict) -> dict[str, str]:
    return {k: json.dumps(v) for k, v in fields.items()}


# KEYS[1] delivery; ARGV[1] attempt number, ARGV[2] now, ARGV[3] lease end, ARGV[4] '1' for a guard.
# A job claims attempt n of a pending delivery whose last attempt was n-1; a guard re-claims
# attempt n when that attempt's lease ran out without it ending.
_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or cjson.decode(status) ~= 'pending' then return 0 end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
local attempt = tonumber(ARGV[1])
if ARGV[4] == '1' then
  local lease = redis.call('HGET', KEYS[1], 'lease_until')
  lease = lease and cjson.decode(lease)
  if attempts ~= attempt or type(lease) ~= 'number' or lease > tonumber(ARGV[2]) then return 0 end
elseif attempts + 1 ~= attempt then
  return 0
end
redis.call('HSET', KEYS[1], 'attempts', ARGV[1], 'last_attempt_at', ARGV[2], 'next_attempt_at', 'null',
  'lease_until', ARGV[3])
return 1
"""


def _job_options(timeout_s: float) -> dict:
    return {"timeout": attempt_timeout_s(timeout_s), "result_ttl": NOTIFY_RESULT_TTL_S, "failure_ttl": DELIVERY_TTL_S}


class DeliveryStore:
    def __init__(self, redis: Redis):
        self.redis = redis
        self.notify = queue(NOTIFY_QUEUE, redis)
        self._claim = redis.register_script(_CLAIM)

    def add(self, delivery: dict, pipe: Pipeline, timeout_s: float) -> None:
        """Queue the writes of a new delivery and its first attempt on `pipe`."""
        key, listing = delivery_key(delivery["id"]), video_deliveries_key(delivery["video_id"])
        pipe.hset(key, mapping=_encode(delivery))
        pipe.expire(key, DELIVERY_TTL_S)
        pipe.rpush(listing, delivery["id"])
        pipe.expire(listing, DELIVERY_TTL_S)
        data = Queue.prepare_data(NOTIFY_JOB, args=[delivery["id"], 1], **_job_options(timeout_s))
        self.notify.enqueue_many([data], pipeline=pipe)

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

    def begin(self, delivery_id: str, attempt: int, timeout_s: float, guard: bool = False) -> str | None:
        """Claim attempt `attempt`; returns the id of its guard job, or None when refused."""
        now = time.time()
        lease_until = math.ceil(now + attempt_timeout_s(timeout_s))
        # The guard is scheduled before the claim, so no claimed attempt is ever without one.
        guard_job = self.notify.create_job(NOTIFY_JOB, args=[delivery_id, attempt, True], **_job_options(timeout_s))
        self.notify.schedule_job(guard_job, datetime.fromtimestamp(lease_until + 1, UTC))
        claimed = self._claim(
            keys=[delivery_key(delivery_id)], args=[attempt, json.dumps(now), lease_until, "1" if guard else "0"]
        )
        if claimed:
            return guard_job.id
        self._drop_guard(self.redis, guard_job.id)
        return None

    def _drop_guard(self, pipe: Redis | Pipeline, guard_id: str) -> None:
        pipe.zrem(ScheduledJobRegistry(queue=self.notify).key, guard_id)
        pipe.delete(Job.key_for(guard_id))

    def finish(self, delivery_id: str, guard_id: str, status: str, **fields) -> None:
        """End the attempt with a final status."""
        fields = {"status": status, "next_attempt_at": None, "lease_until": None, **fields}
        if status == DELIVERED:
            fields["delivered_at"] = time.time()
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(delivery_key(delivery_id), mapping=_encode(fields))
            self._drop_guard(pipe, guard_id)
            pipe.execute()

    def schedule_retry(
        self, delivery_id: str, guard_id: str, attempt: int, delay_s: float, timeout_s: float, **fields
    ) -> int:
        """End the attempt as failed and schedule attempt number `attempt`, in one transaction."""
        # RQ keeps whole seconds and rounds down; rounding up keeps a retry-after from being cut short.
        due = math.ceil(time.time() + delay_s)
        job = self.notify.create_job(NOTIFY_JOB, args=[delivery_id, attempt], **_job_options(timeout_s))
        fields = {**fields, "next_attempt_at": due, "lease_until": None}
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(delivery_key(delivery_id), mapping=_encode(fields))
            self.notify.schedule_job(job, datetime.fromtimestamp(due, UTC), pipeline=pipe)
            self._drop_guard(pipe, guard_id)
            pipe.execute()
        return due

    def retry_now(self, delivery: dict, timeout_s: float) -> dict:
        """A manual resend: reopen the delivery (and its endpoint, if a 410 disabled it)."""
        attempt = delivery["attempts"] + 1
        data = Queue.prepare_data(NOTIFY_JOB, args=[delivery["id"], attempt], **_job_options(timeout_s))
        fields = {"status": PENDING, "next_attempt_at": time.time()}
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(delivery_key(delivery["id"]), mapping=_encode(fields))
            pipe.hdel(DISABLED_ENDPOINTS, delivery["url"])
            self.notify.enqueue_many([data], pipeline=pipe)
            pipe.execute()
        return {**delivery, **fields}

    def disable_endpoint(self, url: str) -> None:
        self.redis.hset(DISABLED_ENDPOINTS, url, json.dumps(time.time()))

    def is_disabled(self, url: str) -> bool:
        return bool(self.redis.hexists(DISABLED_ENDPOINTS, url))
