"""What the video routes do, apart from HTTP: create, cancel, delete."""

import secrets
import time

from redis import Redis
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job

from app.commit import CommandList, commit
from app.errors import Conflict
from app.expansion.plan import expand_job_timeout_s
from app.expansion.stats import count_outcome
from app.queue_position import look_up_position, position_from
from app.queueing import EXPAND_STAGE, current_job, enqueue_expand, enqueue_render
from app.records import RecordStore, new_video_id, now_ms
from app.replication import NotReplicated, known_required_replicas, wait_for_replicas
from app.settings import Settings
from app.status import ACTIVE, VideoStatus
from app.storage import Storage
from app.validation import ResolvedRequest
from app.webhooks.config import WebhookConfig
from app.webhooks.events import VIDEO_CANCELLED, VIDEO_QUEUED, emit


def new_record(owner: str, prompt: str, resolved: ResolvedRequest, seed: int | None, settings: Settings) -> dict:
    created_ms = now_ms()
    created = created_ms // 1000
    return {
        "id": new_video_id(),
        "object": "video",
        "owner": owner,
        "model": resolved.model,
        "status": VideoStatus.QUEUED.value,
        "progress": 0,
        "created_at": created,
        "created_at_ms": created_ms,
        "completed_at": None,
        "expires_at": created + settings.video_ttl_s if settings.video_ttl_s else None,
        # When the record of the expired video goes too (the sweep deletes it then).
        "forget_at": created + settings.video_ttl_s + settings.expired_record_ttl_s
        if settings.video_ttl_s and settings.expired_record_ttl_s
        else None,
        "prompt": prompt,
        "revised_prompt": prompt,
        "prompt_expansion": "off",
        # `size` is what is delivered; `width` x `height` what the model renders (scaled when encoding).
        "size": resolved.size,
        "width": resolved.width,
        "height": resolved.height,
        "seconds": resolved.seconds,
        "fps": resolved.fps,
        "num_frames": resolved.num_frames,
        # A longer video is a chain of renders of this many frames (workers/longvideo).
        "chunk_frames": resolved.chunk_frames,
        "loop": resolved.loop,
        # The seed is fixed at creation so the object tells how to reproduce the result.
        "seed": seed if seed is not None else secrets.randbelow(2**31),
        "num_inference_steps": resolved.num_inference_steps,
        "guidance_scale": resolved.guidance_scale,
        "negative_prompt": resolved.negative_prompt,
        "remixed_from_video_id": None,
        "error": None,
        "timings": {},
        "warning": resolved.warning,
        "attempts": 0,
        "enqueues": 0,
        "enqueued_at": time.time(),
        "worker": None,
        "artifact_attempt": None,
    }


def submit(redis: Redis, store: RecordStore, record: dict, settings: Settings, active_limit: int = 0) -> int | None:
    """Write the record and its first job in one atomic call: both exist or neither does.
    Returns the video's queue position, read in the same call (one round trip in all).

    `active_limit` (the owner's unfinished videos at most; 0: none) is checked inside that call,
    so concurrent creates cannot overshoot it. Where replicas are required, the video is only
    accepted once one holds it (app/replication.py); otherwise it is withdrawn.
    """
    index = commit(redis, record["owner"], active_limit, queue_writes(redis, store, record, settings))
    after_commit(redis, store, record, settings)
    return position_from(index)


def queue_writes(redis: Redis, store: RecordStore, record: dict, settings: Settings) -> CommandList:
    """Everything a new video writes, ending with the lookup of its queue position. Makes no
    round trip (RQ reads the server's version once per client, through `redis`)."""
    writes = CommandList()
    store.create(record, writes)
    if record.get("stage") == EXPAND_STAGE:
        # The expand job queues the render itself once the prompt is rewritten.
        enqueue_expand(
            redis,
            record,
            timeout_s=expand_job_timeout_s(settings),
            result_ttl_s=settings.job_result_ttl_s,
            pipe=writes,
        )
    else:
        enqueue_render(
            redis, record, timeout_s=settings.job_timeout_s, result_ttl_s=settings.job_result_ttl_s, pipe=writes
        )
        count_outcome(writes, record["prompt_expansion"])
    look_up_position(writes, record)
    return writes


def after_commit(redis: Redis, store: RecordStore, record: dict, settings: Settings) -> None:
    """Wait for the replicas the video must reach (or withdraw it), then announce it."""
    try:
        wait_for_replicas(redis, settings)
    except NotReplicated:
        _withdraw(redis, store, record)
        raise
    emit(redis, record["id"], VIDEO_QUEUED, settings)


def after_commit_is_free(settings: Settings) -> bool:
    """Whether `after_commit` makes no round trip (no replica to wait for, no webhook to queue),
    so the event loop may run it."""
    return known_required_replicas(settings) == 0 and not WebhookConfig.from_settings(settings).enabled


def _withdraw(redis: Redis, store: RecordStore, record: dict) -> None:
    """Take back a video whose create is answered with an error, so it never renders unseen."""
    try:
        store.transition(record["id"], {"status": VideoStatus.CANCELLED.value}, allowed_from=ACTIVE)
        _drop_queued_job(redis, record)
        store.delete(record["id"], record["owner"])
    except RedisError:
        pass  # the primary is gone, and the write with it


def _drop_queued_job(redis: Redis, record: dict) -> None:
    try:
        job = Job.fetch(current_job(record)[0], connection=redis)
    except NoSuchJobError:
        return
    # Only affects jobs not yet started; a running render sees the status at its next step.
    if job.get_status(refresh=False) in ("queued", "deferred", "scheduled"):
        job.cancel()


def cancel(redis: Redis, store: RecordStore, record: dict) -> dict:
    status = VideoStatus(record["status"])
    if status.is_terminal():
        raise Conflict(f"video {record['id']} is already {status.value}", code="video_not_cancellable")
    changed = store.transition(
        record["id"],
        {
            "status": VideoStatus.CANCELLED.value,
            "completed_at": int(time.time()),
            "error": {"code": "cancelled", "message": "The video was cancelled before it finished."},
        },
        allowed_from=ACTIVE,
    )
    if changed is None:
        fresh = store.get(record["id"])
        raise Conflict(f"video {record['id']} is already {fresh['status'] if fresh else 'deleted'}")
    _drop_queued_job(redis, record)
    emit(redis, record["id"], VIDEO_CANCELLED)
    return store.get(record["id"]) or record


def delete(redis: Redis, store: RecordStore, storage: Storage, record: dict) -> None:
    if not VideoStatus(record["status"]).is_terminal():
        if store.transition(record["id"], {"status": VideoStatus.CANCELLED.value}, allowed_from=ACTIVE):
            emit(redis, record["id"], VIDEO_CANCELLED)
        _drop_queued_job(redis, record)
    storage.delete(record["id"])
    store.delete(record["id"], record["owner"])
