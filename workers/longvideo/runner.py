"""Render a long video as its plan of chunks, each continuing the previous one's latents.

For each chunk: sample with the previous chunk's tail latents pinned at its start (the
conditioning step callback re-imposes them at every step), match its colours to the previous
chunk on the overlap, checkpoint it (latents and frames in storage, `long_video.done` in the
record), and stream its new frames into the one encoder. Only one chunk's frames and latents are
in memory at a time. A worker that takes the video over replays the stored chunks' frames into
its encoder and continues from the first chunk not stored: the same seeds and the same stored
latents make the same frames.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from workers.conditioning import Conditions, Pin
from workers.conditioning import SourceVideo as Redrawn
from workers.conditioning.latent_space import latent_space_of
from workers.conditioning.media import video_window
from workers.conditioning.stored import record_conditions
from workers.encode import VideoEncoder, to_uint8
from workers.longvideo.checkpoint import Checkpoints
from workers.longvideo.matching import match_statistics
from workers.longvideo.plan import ChunkPlan, make_plan
from workers.longvideo.sources import SourceVideo, resized
from workers.runtime import sample


log = logging.getLogger(__name__)
# Chunk i renders with seed + i * SEED_STRIDE: distinct noise per chunk, reproducible per chunk.
SEED_STRIDE = 1_000_003


@dataclass
class LongVideoResult:
    files: dict[str, Path]
    denoise_seconds: float = 0.0
    decode_seconds: float = 0.0
    encode_seconds: float = 0.0
    step_seconds: list[float] = field(default_factory=list)
    chunks_rendered: int = 0


def is_long_video(record: dict) -> bool:
    return record["num_frames"] > record.get("chunk_frames", record["num_frames"]) or bool(
        record.get("long_video") or record.get("extends") or record.get("transition_to") or record.get("loop")
    )


def delivered_size(record: dict) -> tuple[int, int]:
    width, height = (int(side) for side in record["size"].split("x"))
    return width, height


def _source_frames(record: dict, key: str) -> int:
    return int(record[key]["frames"]) if record.get(key) else 0


def temporal_patch(pipe) -> int:
    """Latent frames the pipeline's transformer packs into one token (1 when it packs none)."""
    config = getattr(getattr(pipe, "transformer", None), "config", None)
    size = getattr(config, "patch_size_t", None)
    if size is None and isinstance(getattr(config, "patch_size", None), (list, tuple)):
        size = config.patch_size[0]
    return int(size or 1)


def plan_for(record: dict, temporal_scale: int, patch: int = 1) -> ChunkPlan:
    stored = (record.get("long_video") or {}).get("plan")
    if stored:
        return ChunkPlan.from_json(stored)
    made_elsewhere = _source_frames(record, "extends") + _source_frames(record, "transition_to")
    return make_plan(
        record["num_frames"] - made_elsewhere,
        record["chunk_frames"],
        temporal_scale,
        record["prompt"],
        record.get("revised_prompt"),
        continues=bool(record.get("extends")),
        closes=bool(record.get("loop") or record.get("transition_to")),
        temporal_patch=patch,
    )


def latent_end(plan: ChunkPlan, chunk: int) -> int:
    """Latent frames of chunk `chunk` up to its last delivered frame (its tail ends there)."""
    last = plan.first_new_frame(chunk) + plan.new_frames[chunk] - 1
    return 1 if last <= 0 else (last - 1) // plan.temporal_scale + 2


class _Timer:
    def __init__(self):
        self.seconds = 0.0

    def __enter__(self):
        self._started = time.perf_counter()

    def __exit__(self, *exc):
        self.seconds += time.perf_counter() - self._started


def render_long_video(ctx, model, record: dict, params: dict, on_step: Callable, scratch: Path) -> LongVideoResult:
    """Render (or resume) `record`'s chunks into `scratch`/video.mp4 and its stills."""
    video_id = record["id"]
    space = latent_space_of(model.pipeline)
    plan = plan_for(record, space.temporal, temporal_patch(model.pipeline))
    # `done` chunks are stored; `attempts` says which attempt rendered each (a resume shows).
    state = record.get("long_video") or {"plan": plan.to_json(), "done": 0, "attempts": []}
    done = state["done"]
    ctx.store.update(video_id, _state_fields(state, plan, done))
    checkpoints = Checkpoints(ctx.storage, video_id)
    render_size = (record["width"], record["height"])
    before = SourceVideo(ctx.storage, video_id, record["extends"]) if record.get("extends") else None
    after = SourceVideo(ctx.storage, video_id, record["transition_to"]) if record.get("transition_to") else None
    # What the request itself brought (an image as the first frame, a character's reference).
    stored = record_conditions(ctx.storage, record)
    result = LongVideoResult(files={})
    encode = _Timer()
    # Frames from finished videos arrive at their delivered size: then everything is encoded at
    # that size and the new frames are scaled to it; otherwise ffmpeg scales while encoding.
    encoder_size = delivered_size(record) if before or after else render_size
    with encode:
        encoder = VideoEncoder(
            scratch / "video.mp4", record["fps"], encoder_size, record["num_frames"], delivered_size(record)
        )
    try:
        start = _Start()
        if before is not None:
            for frames in before.stream():
                with encode:
                    encoder.write(frames)
            start = _start_from_source(before, plan, space, params, render_size)
            # Whether the first chunk continues the source's own latents or its re-encoded frames.
            state = {**state, "continued_from": "latents" if start.latents is not None else "frames"}
            ctx.store.update(video_id, _state_fields(state, plan, done))
        head = None
        for chunk in range(done):
            frames = checkpoints.frames(chunk)
            with encode:
                encoder.write(frames)
            if chunk == 0 and record.get("loop"):
                head = frames[: plan.closing_frames]
            start = _Start(reference=frames[-plan.overlap_frames :])
        if done:
            start.latents = checkpoints.latents(done - 1)[:, :, -plan.overlap_latents :]
            log.info("%s resumes at chunk %d of %d", video_id, done + 1, plan.chunks)
        if after is not None:
            head = resized(after.head(plan.closing_frames), *render_size)
        for chunk in range(done, plan.chunks):
            closing = head if plan.closes and chunk == plan.chunks - 1 else None
            latents, frames, timing = _render_chunk(model, plan, chunk, params, start, closing, on_step, stored)
            result.denoise_seconds += timing.denoise_seconds
            result.decode_seconds += timing.decode_seconds
            result.step_seconds += timing.step_seconds
            result.chunks_rendered += 1
            kept = latents[:, :, : latent_end(plan, chunk)]
            checkpoints.save(chunk, kept, frames)
            state = {**state, "done": chunk + 1, "attempts": [*state["attempts"], record["attempts"]]}
            ctx.store.update(video_id, _state_fields(state, plan, chunk + 1))
            with encode:
                encoder.write(frames)
            if chunk == 0 and record.get("loop"):
                head = frames[: plan.closing_frames]
            start = _Start(latents=kept[:, :, -plan.overlap_latents :], reference=frames[-plan.overlap_frames :])
            del latents, kept
        if after is not None:
            for frames in after.stream():
                with encode:
                    encoder.write(frames)
        with encode:
            result.files = encoder.finish(scratch)
    except BaseException:
        _abandon(encoder)
        raise
    finally:
        for source in (before, after):
            if source is not None:
                source.close()
    result.encode_seconds = encode.seconds
    return result


@dataclass
class _Start:
    """What a chunk continues from: tail latents, or tail frames to encode, and the frames its
    colours are matched to."""

    latents: torch.Tensor | None = None
    frames: np.ndarray | None = None
    reference: np.ndarray | None = None


def _start_from_source(source: SourceVideo, plan: ChunkPlan, space, params: dict, render_size) -> _Start:
    shape = space.canonical_shape(plan.chunk_frames, params["height"], params["width"])
    tail_frames = resized(source.tail(plan.overlap_frames), *render_size)
    latents = source.tail_latents(shape)
    if latents is not None:
        return _Start(latents=latents[:, :, -plan.overlap_latents :], reference=tail_frames)
    return _Start(frames=tail_frames.astype(np.float32) / 255.0, reference=tail_frames)


def _state_fields(state: dict, plan: ChunkPlan, current: int) -> dict:
    # `chunks` is the public view (the video object shows it): chunk `current` of `total`.
    return {"long_video": state, "chunks": {"done": state["done"], "current": current, "total": plan.chunks}}


def finish_checkpoints(ctx, video_id: str) -> None:
    """After the video completed: keep the last chunk's latents as its tail, drop the rest."""
    record = ctx.store.get(video_id)
    if record and record.get("long_video"):
        plan = ChunkPlan.from_json(record["long_video"]["plan"])
        Checkpoints(ctx.storage, video_id).keep_tail(plan.chunks - 1, plan.chunks)


def keep_clip_latents(ctx, model, video_id: str, latents, num_frames: int) -> None:
    """A video made in one render keeps its final latents too, so an extension continues them.
    Best effort: the video is already complete."""
    if latents is None:
        return
    try:
        scale = latent_space_of(model.pipeline).temporal
        Checkpoints(ctx.storage, video_id).save_tail(latents[:, :, : (num_frames - 1) // scale + 1])
    except Exception:
        log.warning("could not keep the final latents of %s", video_id, exc_info=True)


def _render_chunk(model, plan: ChunkPlan, chunk: int, params: dict, start: _Start, closing, on_step, stored: dict):
    """Sample one chunk; its delivered frames as uint8, colour-matched to what it continues.

    `stored` holds the request's own conditions (`record_conditions`): its pinned frames belong
    to the start of the video, so to the first chunk; its references hold in every chunk; a
    source video to re-draw (a remix, an edit) gives each chunk the frames it covers."""
    steps = params["num_inference_steps"]

    def chunk_step(step: int, total: int) -> None:
        # Progress over the whole plan: chunk i of n, step k of m.
        on_step(chunk * total + step, plan.chunks * total)

    chunk_params = {
        **params,
        "prompt": plan.prompts[chunk],
        "num_frames": plan.chunk_frames,
        "num_inference_steps": steps,
        "seed": (params["seed"] + chunk * SEED_STRIDE) % 2**63,
    }
    requested = stored.get("conditions") or Conditions()
    conditions = Conditions(references=list(requested.references))
    if requested.video is not None:
        start_frame = sum(plan.new_frames[:chunk]) - plan.first_new_frame(chunk)
        source = stored["read_input"](requested.video.source)
        window = video_window(source, params["width"], params["height"], start_frame, plan.chunk_frames)
        conditions.video = Redrawn(strength=requested.video.strength, data=window)
    if chunk == 0 and start.latents is None and start.frames is None:
        conditions.pins.extend(requested.pins)
    if start.latents is not None:
        conditions.pins.append(Pin(at=0, frames=plan.overlap_latents, latents=True, data=start.latents))
    elif start.frames is not None:
        conditions.pins.append(Pin(at=0, frames=plan.overlap_frames, data=start.frames))
    if closing is not None:
        # The bridge ends on known frames (a loop's first frames, the next video's): pinned last.
        count = plan.closing_frames
        conditions.pins.append(Pin(at=-count, frames=count, data=closing.astype(np.float32) / 255.0))
    sampled = sample(model, chunk_params, chunk_step, conditions=conditions, read_input=stored.get("read_input"))
    frames = np.asarray(sampled.frames[: plan.chunk_frames], dtype=np.float32)
    first = plan.first_new_frame(chunk)
    if start.reference is not None and first > 0:
        frames = match_statistics(frames, frames[:first], start.reference.astype(np.float32) / 255.0)
    delivered = to_uint8(frames[first : first + plan.new_frames[chunk]])
    latents = torch.as_tensor(sampled.latents).float().cpu()
    return latents, delivered, sampled


def _abandon(encoder: VideoEncoder) -> None:
    try:
        encoder.close()
    except Exception:
        log.debug("encoder of an abandoned render did not close cleanly", exc_info=True)
