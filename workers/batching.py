"""Several plain text-to-video renders of one model in one pipeline call.

Videos that share size, frame count, steps, guidance and the family's other call arguments can
be denoised as one batch: each keeps its own prompt, negative prompt and seed (a generator per
item, so its starting noise is exactly what it would be alone), and comes out as the video it
would have been rendered alone, up to float rounding of batched matrix products.

Conditioned renders (pinned frames, source videos, references) and chunked long videos are not
batched: they stay on the single path (workers/runtime.py `sample`).
"""

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from models.accelerators import reset_after_interrupted_call
from models.loader import LoadedModel
from models.recipe import call_arguments, fit_scheduler
from workers.runtime import SampleResult, sample_params


log = logging.getLogger(__name__)


# What every video in one batch must share (besides the model).
SHARED_PARAMS = ("height", "width", "num_frames", "num_inference_steps", "guidance_scale")


def batch_key(model: LoadedModel, params: dict) -> tuple:
    """Videos with equal keys can share a pipeline call (prompts, negative prompts, seeds differ)."""
    family = call_arguments(model.entry, params, type(model.pipeline.scheduler).__name__)
    family.pop("negative_prompt", None)
    return (
        *(params[name] for name in SHARED_PARAMS),
        tuple(sorted((k, repr(v)) for k, v in family.items())),
        # A missing negative prompt and an empty one are not the same call for every family.
        "negative_prompt" in call_arguments(model.entry, params, type(model.pipeline.scheduler).__name__),
    )


@dataclass
class DenoisedBatch:
    """A batch after its last denoising step: decoded video by video (`decode_video`)."""

    model: LoadedModel
    batch: list[dict]
    # WanPipeline: the loop's latents, still to decode; other pipelines: their decoded frames.
    output: object
    latents: torch.Tensor | None
    denoise_seconds: float
    decode_seconds: float  # the pipeline's own decode of the whole batch, where it did it
    step_seconds: list[float]


def _decodes_here(pipeline) -> bool:
    # WanPipeline's decode is a few lines repeated below per video, so a batch's first video is
    # encoded and published while the others still decode (oneDNN decodes one as fast per video).
    return type(pipeline).__name__ == "WanPipeline"


def denoise_batch(model: LoadedModel, batch: list[dict], on_step: Callable[[int, int], None]) -> DenoisedBatch:
    """Denoise `batch` (the `params` of `sample`, one per video) in one pipeline call.

    `on_step(done, total)` runs after every denoising step, as for `sample`; raising stops the
    whole call (the caller decides per video what a cancel means).
    """
    keys = {batch_key(model, params) for params in batch}
    if len(keys) != 1:
        raise ValueError(f"a batch must share {', '.join(SHARED_PARAMS)} and the family's call arguments")
    first = batch[0]
    scheduler_class = type(model.pipeline.scheduler).__name__
    per_video = [call_arguments(model.entry, params, scheduler_class) for params in batch]
    steps = first["num_inference_steps"]
    step_ends: list[float] = []
    final: dict = {}

    def callback(pipe, step_index, timestep, callback_kwargs):
        step_ends.append(time.perf_counter())
        on_step(step_index + 1, steps)
        if step_index + 1 == steps:
            final["latents"] = callback_kwargs["latents"]
        return callback_kwargs

    kwargs = {
        **per_video[0],
        "prompt": [params["prompt"] for params in batch],
        "height": first["height"],
        "width": first["width"],
        "num_frames": first["num_frames"],
        "num_inference_steps": steps,
        "guidance_scale": first["guidance_scale"],
        # One CPU generator per video: its noise is drawn exactly as when it renders alone.
        "generator": [torch.Generator(device="cpu").manual_seed(params["seed"]) for params in batch],
        "output_type": "latent" if _decodes_here(model.pipeline) else "np",
        "callback_on_step_end": callback,
    }
    if "negative_prompt" in kwargs:
        kwargs["negative_prompt"] = [arguments["negative_prompt"] for arguments in per_video]
    fit_scheduler(model.pipeline, model.entry, first["height"], first["width"])
    started = time.perf_counter()
    try:
        with torch.inference_mode():
            output = model.pipeline(**kwargs)
    except BaseException:
        # As in `sample`: the pipeline's own clean-up never ran (cache state, offload hooks).
        try:
            reset_after_interrupted_call(model.pipeline)
        except Exception:
            log.exception("could not reset %s after an interrupted batch", model.name)
        raise
    finished = time.perf_counter()
    last_step = step_ends[-1] if step_ends else started
    return DenoisedBatch(
        model=model,
        batch=batch,
        output=output.frames,
        latents=final.get("latents"),
        # The batch's time, shared: every video waited for all of it.
        denoise_seconds=last_step - started,
        decode_seconds=finished - last_step,
        step_seconds=[b - a for a, b in itertools.pairwise([started, *step_ends])],
    )


def decode_video(denoised: DenoisedBatch, index: int) -> SampleResult:
    """Video `index` of a denoised batch, decoded as WanPipeline decodes a lone video."""
    pipeline = denoised.model.pipeline
    decode_seconds = denoised.decode_seconds
    if _decodes_here(pipeline):
        started = time.perf_counter()
        with torch.inference_mode():
            vae = pipeline.vae
            latents = denoised.output[index : index + 1].to(pipeline._execution_device, dtype=vae.dtype)
            shape = (1, vae.config.z_dim, 1, 1, 1)
            mean = torch.tensor(vae.config.latents_mean).view(shape).to(latents.device, latents.dtype)
            inverse_std = 1.0 / torch.tensor(vae.config.latents_std).view(shape).to(latents.device, latents.dtype)
            video = vae.decode(latents / inverse_std + mean, return_dict=False)[0]
            frames = pipeline.video_processor.postprocess_video(video, output_type="np")[0]
        decode_seconds += time.perf_counter() - started
    else:
        frames = denoised.output[index]
    latents = denoised.latents
    return SampleResult(
        frames=np.asarray(frames, dtype=np.float32)[: denoised.batch[index]["num_frames"]],
        denoise_seconds=denoised.denoise_seconds,
        decode_seconds=decode_seconds,
        step_seconds=denoised.step_seconds,
        latents=None if latents is None else latents[index : index + 1].float().cpu(),
    )


def sample_batch(model: LoadedModel, batch: list[dict], on_step: Callable[[int, int], None]) -> list[SampleResult]:
    """Render `batch` in one pipeline call; one result per video (see `denoise_batch`)."""
    denoised = denoise_batch(model, batch, on_step)
    return [decode_video(denoised, index) for index in range(len(batch))]


# ------------------------------------------------------------------ taking a batch from the queue

# How far down the render queue a worker looks for videos to join the one it took.
SCAN_FACTOR = 4


class BatchRamp:
    """How many videos the next batch may take: one after the queue ran dry, then twice as many
    each time matching videos were left queued, up to the model's `max_batch`.

    A batch finishes all its videos together, so a big one makes its first video wait for all
    the others (8 videos of the embedded model took about 5x one video's time). A video that
    finds the worker idle is rendered alone, as fast as unbatched; batches grow only while the
    queue stays deep, where waiting in the queue, not the batch, is what a video's latency is.
    """

    def __init__(self):
        self.size = 1

    def limit(self, most: int) -> int:
        return min(self.size, most)

    def claimed(self, more_waiting: bool, most: int) -> None:
        self.size = min(2 * self.size, most) if more_waiting else 1


def _ramp(ctx) -> BatchRamp:
    if ctx.ramp is None:
        ctx.ramp = BatchRamp()
    return ctx.ramp


def max_batch(ctx, model_name: str) -> int:
    """The catalog entry's `max_batch`, else T2V_MAX_BATCH."""
    entry = ctx.catalog[model_name]
    return entry.max_batch or ctx.settings.max_batch


def is_plain(ctx, record: dict) -> bool:
    """A text-to-video render of one clip: nothing pinned, nothing chunked."""
    from workers.conditioning.stored import record_conditions
    from workers.longvideo.runner import is_long_video

    return not is_long_video(record) and not record_conditions(ctx.storage, record)


def render_with_batch(ctx, video_id: str, claimed_at: float) -> str | None:
    """Render the claimed `video_id` together with queued videos that can share its call.

    Returns the first video's outcome, or None when there is nothing to batch (the caller then
    renders it alone). Every other video is claimed here like a job would claim it (queued ->
    in_progress, this worker); its RQ job stays queued and is skipped when dequeued.
    """
    record = ctx.store.get(video_id)
    if record is None or max_batch(ctx, record["model"]) <= 1 or not is_plain(ctx, record):
        return None
    most = max_batch(ctx, record["model"])
    try:
        model, load_seconds = ctx.models.get(record["model"])
    except Exception:  # a model that cannot load fails on the single path, with its reason
        return None
    if ctx.settings.batch_gather_s > 0:
        time.sleep(ctx.settings.batch_gather_s)  # let a burst of creates arrive
    ramp = _ramp(ctx)
    others, more_waiting = _claim_others(ctx, model, record, ramp.limit(most) - 1)
    ramp.claimed(more_waiting, most)
    if not others:
        return None
    records = [record, *others]
    ctx.batch = [r["id"] for r in records]
    try:
        return _render_batch(ctx, model, load_seconds, records, claimed_at)
    finally:
        ctx.batch = []


def _video_of(job_id: bytes) -> str | None:
    # Render job ids are `render-<video id>-<attempt>` (app/queueing.py).
    name = job_id.decode()
    return name[len("render-") :].rsplit("-", 1)[0] if name.startswith("render-") else None


def _claim_others(ctx, model: LoadedModel, first: dict, wanted: int) -> tuple[list[dict], bool]:
    """Claim up to `wanted` queued videos that can share `first`'s call; also whether more such
    videos are still queued after them."""
    from rq import Queue

    from app.queueing import current_job, render_queue_name
    from app.status import VideoStatus
    from app.webhooks.events import VIDEO_IN_PROGRESS, emit

    key = batch_key(model, sample_params(first))
    queue_key = Queue.redis_queue_namespace_prefix + render_queue_name(first["model"])
    # Matching videos past the wanted ones tell whether the queue stays deep (BatchRamp).
    job_ids = [
        j
        for j in ctx.redis.lrange(queue_key, 0, SCAN_FACTOR * max(wanted, 1))
        if _video_of(j) not in (None, first["id"])
    ]
    # (A deleted video has no record: looked up by id, not by position.)
    records = {r["id"]: r for r in ctx.store.get_many(_video_of(j) for j in job_ids)}
    claimed = []
    for job_id in job_ids:
        record = records.get(_video_of(job_id), {})
        if record.get("status") != VideoStatus.QUEUED.value or record["model"] != first["model"]:
            continue
        if current_job(record)[0] != job_id.decode() or not is_plain(ctx, record):
            continue
        if batch_key(model, sample_params(record)) != key:
            continue
        if len(claimed) == wanted:
            return claimed, True
        ctx.batch = [first["id"], *(r["id"] for r in claimed), record["id"]]  # announced before the claim
        started = time.time()
        if ctx.store.transition(
            record["id"],
            {"status": VideoStatus.IN_PROGRESS.value, "worker": ctx.name, "started_at": started, "progress": 0},
            allowed_from=[VideoStatus.QUEUED],
            count_attempt=True,
        ):
            claimed.append({**ctx.store.get(record["id"]), "claimed_at": started})
            emit(ctx.redis, record["id"], VIDEO_IN_PROGRESS, ctx.settings)
    return claimed, False


def _render_batch(ctx, model: LoadedModel, load_seconds: float, records: list[dict], claimed_at: float) -> str:
    from redis.exceptions import RedisError

    from app.events.progress import StepClock
    from app.webhooks.events import VIDEO_IN_PROGRESS, emit
    from workers import render
    from workers.runtime import RenderCancelled

    first = records[0]
    emit(ctx.redis, first["id"], VIDEO_IN_PROGRESS, ctx.settings)
    cancelled: set[str] = set()
    clocks = {r["id"]: StepClock(r["num_inference_steps"]) for r in records}

    def on_step(done: int, total: int) -> None:
        # Each video's progress and events, and whether it was cancelled: a cancelled video's
        # result is discarded, the others go on; when none is left the call stops.
        percent = done * render.DENOISE_PROGRESS_SHARE // total
        for record in records:
            video_id = record["id"]
            if video_id in cancelled:
                continue
            try:
                running = ctx.store.set_progress(video_id, percent, [clocks[video_id].step(done, total, percent)])
            except RedisError:
                continue
            if not running:
                cancelled.add(video_id)
        if len(cancelled) == len(records):
            raise RenderCancelled(first["id"])

    try:
        denoised = denoise_batch(model, [sample_params(r) for r in records], on_step)
    except RenderCancelled:
        return "cancelled"
    except Exception as exc:
        if not render._is_out_of_memory(exc):
            log.exception("batched render of %s failed", ", ".join(r["id"] for r in records))
            for record in records:
                render._fail(ctx, record["id"], "render_failed", f"{type(exc).__name__}: {exc}")
            return "failed"
        # Too big together: the others go back to the queue (their jobs are still there) and
        # this one is rendered alone; each then fails with out_of_memory only on its own.
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        # (The first video's in_progress event is then sent a second time.)
        for record in records[1:]:
            _release(ctx, record)
        return render._claimed(ctx, first["id"], claimed_at)
    outcomes = {}
    # Each video is decoded, encoded and published in turn: the first does not wait for the
    # others' decoding, and a failure in one fails only that one.
    for index, record in enumerate(records):
        if record["id"] in cancelled or not _still_running(ctx, record["id"]):
            continue  # cancelled at once when asked (also since the last step); its frames are dropped
        try:
            result = decode_video(denoised, index)
        except Exception as exc:
            log.exception("decoding %s of a batch failed", record["id"])
            code = "out_of_memory" if render._is_out_of_memory(exc) else "render_failed"
            render._fail(ctx, record["id"], code, f"{type(exc).__name__}: {exc}")
            continue
        outcomes[record["id"]] = _finish(ctx, model, record, result, record.get("claimed_at", claimed_at), load_seconds)
    return outcomes.get(first["id"], "cancelled")


def _still_running(ctx, video_id: str) -> bool:
    """False once the video was cancelled or deleted; a restarting Redis does not stop it."""
    from redis.exceptions import RedisError

    from workers import render

    try:
        return ctx.store.set_progress(video_id, render.DENOISE_PROGRESS_SHARE, [])
    except RedisError:
        return True


def _release(ctx, record: dict) -> None:
    """Give a claimed, unrendered video back to its queued job; the claim's attempt is not counted."""
    from app.status import VideoStatus

    ctx.store.transition(
        record["id"],
        {"status": VideoStatus.QUEUED.value, "worker": None, "progress": 0, "attempts": record["attempts"] - 1},
        allowed_from=[VideoStatus.IN_PROGRESS],
        worker=ctx.name,
    )


def _finish(ctx, model: LoadedModel, record: dict, result: SampleResult, claimed_at: float, load_s: float) -> str:
    """Encode, store and complete one video of a batch; an encode failure fails only this one."""
    import statistics
    import tempfile
    from pathlib import Path

    from workers import render
    from workers.encode import EncodeError, write_outputs
    from workers.longvideo.runner import delivered_size, keep_clip_latents

    video_id, attempt = record["id"], record["attempts"]
    timings = {
        "queued": max(0.0, claimed_at - record["enqueued_at"]),
        "expand": record["timings"].get("expand", 0.0),
        "load": load_s,
    }
    try:
        with tempfile.TemporaryDirectory(prefix="t2v-render-") as scratch:
            started = time.perf_counter()
            files = write_outputs(result.frames, record["fps"], Path(scratch), delivered_size(record))
            timings["encode"] = time.perf_counter() - started
            ctx.storage.put(video_id, attempt, files)
    except EncodeError as exc:
        render._fail(ctx, video_id, "encode_failed", str(exc))
        ctx.storage.delete(video_id, attempt)
        return "failed"
    timings["denoise"], timings["decode"] = result.denoise_seconds, result.decode_seconds
    timings = {k: round(v, 4) for k, v in timings.items()}
    timings["step_median"] = round(statistics.median(result.step_seconds), 4) if result.step_seconds else None
    timings["batch"] = len(ctx.batch)
    if not render.complete(ctx, video_id, attempt, timings):
        return "superseded"
    keep_clip_latents(ctx, model, video_id, result.latents, record["num_frames"])
    render._record_metrics(ctx, record["model"], timings, result.step_seconds)
    return "completed"
