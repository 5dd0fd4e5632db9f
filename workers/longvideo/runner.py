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
from workers.conditioning.latent_space import latent_space_of
from workers.encode import VideoEncoder, to_uint8
from workers.longvideo.checkpoint import Checkpoints
from workers.longvideo.matching import match_statistics
from workers.longvideo.plan import ChunkPlan, make_plan
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
    return record["num_frames"] > record.get("chunk_frames", record["num_frames"]) or bool(record.get("long_video"))


def delivered_size(record: dict) -> tuple[int, int]:
    width, height = (int(side) for side in record["size"].split("x"))
    return width, height


def plan_for(record: dict, temporal_scale: int) -> ChunkPlan:
    stored = (record.get("long_video") or {}).get("plan")
    if stored:
        return ChunkPlan.from_json(stored)
    return make_plan(
        record["num_frames"],
        record["chunk_frames"],
        temporal_scale,
        record["prompt"],
        record.get("revised_prompt"),
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
    plan = plan_for(record, space.temporal)
    # `done` chunks are stored; `attempts` says which attempt rendered each (a resume shows).
    state = record.get("long_video") or {"plan": plan.to_json(), "done": 0, "attempts": []}
    done = state["done"]
    ctx.store.update(video_id, _state_fields(state, plan, done))
    checkpoints = Checkpoints(ctx.storage, video_id)
    result = LongVideoResult(files={})
    encode = _Timer()
    with encode:
        encoder = VideoEncoder(
            scratch / "video.mp4",
            record["fps"],
            (record["width"], record["height"]),
            plan.total_frames,
            delivered_size(record),
        )
    try:
        tail, reference = None, None
        for chunk in range(done):
            frames = checkpoints.frames(chunk)
            with encode:
                encoder.write(frames)
            reference = frames[-plan.overlap_frames :]
        if done:
            tail = checkpoints.latents(done - 1)[:, :, -plan.overlap_latents :]
            log.info("%s resumes at chunk %d of %d", video_id, done + 1, plan.chunks)
        for chunk in range(done, plan.chunks):
            latents, frames, timing = _render_chunk(model, plan, chunk, params, tail, reference, on_step)
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
            tail, reference = kept[:, :, -plan.overlap_latents :], frames[-plan.overlap_frames :]
            del latents, kept
        with encode:
            result.files = encoder.finish(scratch)
    except BaseException:
        _abandon(encoder)
        raise
    result.encode_seconds = encode.seconds
    return result


def _state_fields(state: dict, plan: ChunkPlan, current: int) -> dict:
    # `chunks` is the public view (the video object shows it): chunk `current` of `total`.
    return {"long_video": state, "chunks": {"done": state["done"], "current": current, "total": plan.chunks}}


def finish_checkpoints(ctx, video_id: str) -> None:
    """After the video completed: keep the last chunk's latents as its tail, drop the rest."""
    record = ctx.store.get(video_id)
    if record and record.get("long_video"):
        plan = ChunkPlan.from_json(record["long_video"]["plan"])
        Checkpoints(ctx.storage, video_id).keep_tail(plan.chunks - 1, plan.chunks)


def _render_chunk(model, plan: ChunkPlan, chunk: int, params: dict, tail, reference, on_step):
    """Sample one chunk; its delivered frames as uint8, colour-matched to the previous chunk."""
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
    conditions = Conditions()
    if tail is not None:
        conditions.pins.append(Pin(at=0, frames=plan.overlap_latents, latents=True, data=tail))
    sampled = sample(model, chunk_params, chunk_step, conditions=conditions)
    frames = np.asarray(sampled.frames[: plan.chunk_frames], dtype=np.float32)
    first = plan.first_new_frame(chunk)
    if reference is not None and first > 0:
        frames = match_statistics(frames, frames[:first], reference.astype(np.float32) / 255.0)
    delivered = to_uint8(frames[first : first + plan.new_frames[chunk]])
    latents = torch.as_tensor(sampled.latents).float().cpu()
    return latents, delivered, sampled


def _abandon(encoder: VideoEncoder) -> None:
    try:
        encoder.close()
    except Exception:
        log.debug("encoder of an abandoned render did not close cleanly", exc_info=True)
