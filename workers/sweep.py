"""Reconcile video records with RQ: nothing accepted is lost, nothing stays stuck.

RQ forgets or strands jobs in a few ways (a worker killed mid-job, a non-atomic multi-queue
pop, a Redis restart that kept the record but not the job). The sweep walks the active records
and, for each one whose work is no longer anywhere, queues it again or — after
`max_render_attempts` — fails it with a clear code.
"""

import logging
import time
from dataclasses import dataclass, field

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from app.expansion.handoff import requeue_expansion
from app.liveness import is_alive, live_workers
from app.queueing import EXPAND_STAGE, current_job, enqueue_render, queue
from app.records import RecordStore
from app.settings import Settings
from app.status import VideoStatus
from app.webhooks.events import VIDEO_FAILED, emit


log = logging.getLogger(__name__)
SWEEP_LOCK = "t2v:sweep:lock"


@dataclass
class SweepReport:
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)


def _job_is_pending(redis: Redis, record: dict) -> bool:
    """Is the record's current job still somewhere a worker will get to it?"""
    job_id, queue_name = current_job(record)
    try:
        job = Job.fetch(job_id, connection=redis, serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    if status in ("deferred", "scheduled"):
        return True
    if status == "queued":
        # The job hash can outlive its place in the list (a crash between pop and start).
        return redis.lpos(queue(queue_name, redis).key, job_id) is not None
    if status == "started":
        return bool(job.worker_name) and is_alive(redis, job.worker_name)
    return False


def _requeue_or_fail(redis: Redis, store: RecordStore, record: dict, settings: Settings, why: str) -> str:
    if record.get("stage") == EXPAND_STAGE:
        return requeue_expansion(redis, record, settings, why)
    current = VideoStatus(record["status"])
    owner = (record.get("worker") or "") if current == VideoStatus.IN_PROGRESS else ""
    if record.get("attempts", 0) >= settings.max_render_attempts:
        failed = store.transition(
            record["id"],
            {
                "status": VideoStatus.FAILED.value,
                "completed_at": int(time.time()),
                "error": {
                    "code": "worker_lost",
                    "message": f"The render was lost {record['attempts']} times ({why}); giving up.",
                },
            },
            allowed_from=[current],
            worker=owner,
        )
        if failed:
            emit(redis, record["id"], VIDEO_FAILED, settings)
        return "failed"
    enqueues = record.get("enqueues", 0) + 1
    changed = store.transition(
        record["id"],
        {
            "status": VideoStatus.QUEUED.value,
            "worker": None,
            "progress": 0,
            "enqueues": enqueues,
            "enqueued_at": time.time(),
        },
        allowed_from=[current],
        worker=owner,
    )
    if changed is None:
        return "raced"
    record = {**record, "enqueues": enqueues}
    enqueue_render(redis, record, timeout_s=settings.job_timeout_s, result_ttl_s=settings.job_result_ttl_s)
    log.warning("requeued %s (%s)", record["id"], why)
    return "requeued"


def sweep(context, holder: str) -> SweepReport | None:
    """One pass over active records, then expired files; None when another process holds the lock."""
    redis, store, settings = context.redis, context.store, context.settings
    lock_ms = int(max(settings.sweep_interval_s, 1) * 1000)
    if not redis.set(SWEEP_LOCK, holder, nx=True, px=lock_ms):
        return None
    report = SweepReport()
    now = time.time()
    workers = live_workers(redis)
    for video_id in store.active_ids():
        record = store.get(video_id)
        if record is None:
            continue
        status = VideoStatus(record["status"])
        if status == VideoStatus.IN_PROGRESS:
            owner = workers.get(record.get("worker") or "")
            if owner is None:
                why = "its worker stopped"
            elif (
                owner.get("current_video") != video_id
                and video_id not in owner.get("batch", [])
                and now - record.get("started_at", now) > settings.sweep_grace_s
            ):
                # Alive but busy elsewhere: the finish of this render was lost (e.g. Redis restarted).
                why = "its worker moved on without finishing it"
            else:
                continue
            outcome = _requeue_or_fail(redis, store, record, settings, why)
        elif status == VideoStatus.QUEUED:
            if now - record.get("enqueued_at", now) < settings.sweep_grace_s or _job_is_pending(redis, record):
                continue
            outcome = _requeue_or_fail(redis, store, record, settings, "its job was lost")
        else:
            continue
        if outcome == "requeued":
            report.requeued.append(video_id)
        elif outcome == "failed":
            report.failed.append(video_id)
    report.expired = expire_videos(store, context.storage, now)
    report.forgotten = store.forget_expired(now)
    return report


def expire_videos(store: RecordStore, storage, now: float) -> list[str]:
    """Delete the files of videos past `expires_at`; their records stay, marked expired."""
    expired = []
    for video_id in store.due_for_expiry(now):
        status = store.status(video_id)
        if status is not None and not status.is_terminal():
            continue  # still rendering: its files would reappear after the delete
        # Marked first: a download racing the delete gets "expired", not "missing".
        store.mark_expired(video_id)
        storage.delete(video_id)
        expired.append(video_id)
    return expired
