"""The render job: claim the video, sample, encode, store, finish — exactly once.

RQ delivers at least once, so every step is guarded by the record: only a `queued` video can be
claimed, only the claiming worker can finish it, and files go to a per-attempt location that a
losing duplicate removes again.
"""

import logging
import statistics
import tempfile
import time
from pathlib import Path

import torch
from redis.exceptions import RedisError
from rq.timeouts import JobTimeoutException

from app.events.progress import StepClock
from app.metrics_store import PHASE_BUCKETS, PHASE_SECONDS, STEP_BUCKETS, STEP_SECONDS, observe
from app.status import VideoStatus
from app.webhooks.events import VIDEO_COMPLETED, VIDEO_FAILED, VIDEO_IN_PROGRESS, emit
from models.loader import ModelLoadError
from workers import previews
from workers.batching import render_with_batch
from workers.conditioning.stored import record_conditions
from workers.context import WorkerContext, current
from workers.encode import EncodeError, write_outputs
from workers.handback import WorkerStopping, hand_back
from workers.longvideo.runner import (
    delivered_size,
    finish_checkpoints,
    is_long_video,
    keep_clip_latents,
    render_long_video,
)
from workers.redis_retry import until_redis_answers
from workers.runtime import RenderCancelled, sample, sample_params
from workers.step_reports import StepReports


log = logging.getLogger(__name__)

# Denoising fills progress up to here; decode, encode and storing take the rest.
DENOISE_PROGRESS_SHARE = 90


def _fail(ctx: WorkerContext, video_id: str, code: str, message: str) -> None:
    failed = until_redis_answers(
        lambda: ctx.store.transition(
            video_id,
            {
                "status": VideoStatus.FAILED.value,
                "completed_at": int(time.time()),
                "error": {"code": code, "message": message},
            },
            allowed_from=[VideoStatus.IN_PROGRESS],
            worker=ctx.name,
        ),
        ctx.settings.redis_outage_budget_s,
        f"failing {video_id}",
    )
    if failed:
        emit(ctx.redis, video_id, VIDEO_FAILED, ctx.settings)


def _is_out_of_memory(exc: Exception) -> bool:
    # CUDA raises OutOfMemoryError; torch's CPU allocator a RuntimeError that says so.
    return isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or "can't allocate memory" in str(exc)


def _out_of_memory_message(record: dict) -> str:
    return (
        f"The device ran out of memory for {record['size']} x {record['num_frames']} frames; "
        "try a smaller size or fewer seconds."
    )


def _record_metrics(ctx: WorkerContext, model: str, timings: dict, step_seconds: list[float]) -> None:
    with ctx.redis.pipeline(transaction=False) as pipe:
        for phase in ("queued", "load", "denoise", "decode", "encode"):
            observe(pipe, PHASE_SECONDS, phase, timings[phase], PHASE_BUCKETS)
        for seconds in step_seconds:
            observe(pipe, STEP_SECONDS, model, seconds, STEP_BUCKETS)
        pipe.execute()


def complete(ctx: WorkerContext, video_id: str, attempt: int, timings: dict) -> bool:
    """Mark the claimed video completed with this attempt's files; False (and the files removed)
    when it was cancelled or deleted meanwhile, or the sweep gave it to another worker."""
    finished = until_redis_answers(
        lambda: ctx.store.transition(
            video_id,
            {
                "status": VideoStatus.COMPLETED.value,
                "progress": 100,
                "completed_at": int(time.time()),
                "timings": timings,
                "artifact_attempt": attempt,
            },
            allowed_from=[VideoStatus.IN_PROGRESS],
            worker=ctx.name,
        ),
        ctx.settings.redis_outage_budget_s,
        f"completing {video_id}",
    )
    if finished is None:
        ctx.storage.delete(video_id, attempt)
        return False
    emit(ctx.redis, video_id, VIDEO_COMPLETED, ctx.settings)
    return True


def render_video(video_id: str) -> str:
    ctx = current()
    claimed_at = time.time()
    status = ctx.store.transition(
        video_id,
        {"status": VideoStatus.IN_PROGRESS.value, "worker": ctx.name, "started_at": claimed_at, "progress": 0},
        allowed_from=[VideoStatus.QUEUED],
        count_attempt=True,
    )
    if status is None:
        # Cancelled, deleted, finished, or another worker holds it: a duplicate delivery.
        return "skipped"
    ctx.current_video = video_id
    try:
        # Queued videos that can share this one's pipeline call go with it (workers/batching.py).
        batched = render_with_batch(ctx, video_id, claimed_at)
        return batched if batched is not None else _claimed(ctx, video_id, claimed_at)
    finally:
        ctx.current_video = None
        previews.end()


def _claimed(ctx: WorkerContext, video_id: str, claimed_at: float) -> str:
    record = ctx.store.get(video_id)
    emit(ctx.redis, video_id, VIDEO_IN_PROGRESS, ctx.settings)
    attempt = record["attempts"]
    try:
        return _render(ctx, record, attempt, claimed_at)
    except RenderCancelled:
        return "cancelled"
    except WorkerStopping:
        return hand_back(ctx, record)
    except ModelLoadError as exc:
        _fail(ctx, video_id, "model_load_failed", str(exc))
    except EncodeError as exc:
        _fail(ctx, video_id, "encode_failed", str(exc))
    except JobTimeoutException:
        _fail(ctx, video_id, "timeout", f"The render took longer than {ctx.settings.job_timeout_s} s.")
    except Exception as exc:  # the worker must survive whatever one job does
        if _is_out_of_memory(exc):
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            _fail(ctx, video_id, "out_of_memory", _out_of_memory_message(record))
        else:
            log.exception("render of %s failed", video_id)
            _fail(ctx, video_id, "render_failed", f"{type(exc).__name__}: {exc}")
    ctx.storage.delete(video_id, attempt)
    return "failed"


def _render(ctx: WorkerContext, record: dict, attempt: int, claimed_at: float) -> str:
    video_id = record["id"]
    timings = {"queued": max(0.0, claimed_at - record["enqueued_at"]), "expand": record["timings"].get("expand", 0.0)}
    try:
        model, load_seconds = ctx.models.get(record["model"])
    except KeyError:
        raise ModelLoadError(f"this worker does not serve model {record['model']!r}") from None
    timings["load"] = load_seconds
    clock = StepClock(record["num_inference_steps"])
    previews.begin(ctx.storage, video_id, attempt, model, ctx.settings.preview_budget_share)

    # A single clip's step reports do not wait for their answers (workers/step_reports.py); a long
    # video's interleave with its chunks' own writes, so each waits for its answer.
    reports = None if is_long_video(record) else StepReports(ctx.redis, ctx.store, video_id)

    def on_step(done: int, total: int) -> None:
        if ctx.stopping.is_set():
            raise WorkerStopping(video_id)  # the worker is stopping: it hands the video back
        # Each step reports progress (and its events) and learns of a cancel: it lands within a
        # step or two, not after the video.
        percent = done * DENOISE_PROGRESS_SHARE // total
        step_events = [*previews.take_events(), clock.step(done, total, percent)]
        if reports is not None:
            still_running = reports.send(percent, step_events)
        else:
            try:
                still_running = ctx.store.set_progress(video_id, percent, step_events)
            except RedisError:
                return  # Redis is restarting: keep sampling, the finish waits for it to come back
        if not still_running:
            raise RenderCancelled(video_id)

    params = sample_params(record)
    with tempfile.TemporaryDirectory(prefix="t2v-render-") as scratch:
        if is_long_video(record):
            # Checkpointed chunks streamed into one encoder (workers/longvideo).
            result = render_long_video(ctx, model, record, params, on_step, Path(scratch))
            files, timings["encode"] = result.files, result.encode_seconds
        else:
            try:
                result = sample(model, params, on_step, **record_conditions(ctx.storage, record))
            finally:
                still_running = reports.close()
            if not still_running:
                raise RenderCancelled(video_id)
            encode_started = time.perf_counter()
            files = write_outputs(result.frames, record["fps"], Path(scratch), delivered_size(record))
            timings["encode"] = time.perf_counter() - encode_started
        ctx.storage.put(video_id, attempt, files)
    timings["denoise"] = result.denoise_seconds
    timings["decode"] = result.decode_seconds
    timings = {k: round(v, 4) for k, v in timings.items()}
    timings["step_median"] = round(statistics.median(result.step_seconds), 4) if result.step_seconds else None

    if not complete(ctx, video_id, attempt, timings):
        return "superseded"
    if is_long_video(record):
        finish_checkpoints(ctx, video_id)
    else:
        keep_clip_latents(ctx, model, video_id, result.latents, record["num_frames"])
    _record_metrics(ctx, record["model"], timings, result.step_seconds)
    return "completed"
