"""A sampler call with or without conditions: what `workers.runtime.sample` drives.

Every run has `pipeline` and `kwargs` (what to call), `total_steps` (what progress counts to),
`after_step(...)` (chained into `callback_on_step_end`) and, once the call returns,
`final_latents`: the denoised latents before decoding, canonical (1, C, f, h, w) float32 on the
CPU, or None where a pipeline's loop holds more than the video (LTX's condition tokens).
"""

from collections.abc import Callable

import numpy as np

from workers.conditioning import adapters, schedule
from workers.conditioning.conditions import ConditionError, Conditions
from workers.conditioning.generic import GenericRun, known_from_pin
from workers.conditioning.latent_space import latent_space_of
from workers.conditioning.media import image_frames, to_length, video_frames


class PlainRun:
    """No conditions: the pipeline as it is; only the final latents are kept."""

    def __init__(self, pipe, kwargs: dict, total_steps: int | None = None, keep_latents: bool = True):
        self.pipeline = pipe
        self.kwargs = kwargs
        self.total_steps = total_steps or kwargs["num_inference_steps"]
        self.keep_latents = keep_latents
        self.final_latents = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def after_step(self, pipe, step_index: int, timestep, callback_kwargs: dict) -> dict:
        latents = callback_kwargs.get("latents")
        if self.keep_latents and latents is not None:
            # Kept every step (a reference, no copy); the last one is the final latents.
            self.final_latents = latents
        return callback_kwargs

    def finish(self, space, shape: tuple[int, ...]) -> None:
        if self.final_latents is not None:
            self.final_latents = space.from_loop(self.final_latents, shape).detach().float().cpu()


def _read(source: str | None, data, read_input: Callable[[str], bytes] | None):
    if data is not None:
        return data
    if read_input is None:
        raise ConditionError(f"input {source!r} is stored, but no reader was given")
    return read_input(source)


def load_media(
    conditions: Conditions, width: int, height: int, num_frames: int, read_input: Callable[[str], bytes] | None
) -> adapters.Media:
    """Decode every medium the conditions name into frames (or latents) of the render's size."""
    pins = []
    for pin in conditions.pins:
        raw = _read(pin.source, pin.data, read_input)
        if pin.latents:
            if isinstance(raw, bytes):
                import io

                raw = np.load(io.BytesIO(raw), allow_pickle=False)
            pins.append(raw)
        elif isinstance(raw, bytes):
            decode = video_frames if pin.source == "input_video" else image_frames
            pins.append(decode(raw, width, height))
        else:
            pins.append(np.asarray(raw, dtype=np.float32))
    video = None
    if conditions.video is not None:
        raw = _read(conditions.video.source, conditions.video.data, read_input)
        frames = video_frames(raw, width, height) if isinstance(raw, bytes) else np.asarray(raw, dtype=np.float32)
        video = to_length(frames, num_frames)
    references = [
        image_frames(_read(r.source, r.data, read_input), width, height)
        if r.data is None
        else np.asarray(r.data, dtype=np.float32)
        for r in conditions.references
    ]
    return adapters.Media(pins=pins, video=video, references=references)


def begin(pipe, kwargs: dict, conditions: Conditions | None, read_input: Callable[[str], bytes] | None = None):
    """The run for one sampler call (a context manager: enter it inside `torch.inference_mode()`)."""
    if not conditions:
        return PlainRun(pipe, kwargs)
    media = load_media(conditions, kwargs["width"], kwargs["height"], kwargs["num_frames"], read_input)
    chosen = adapters.dedicated(pipe, conditions, media, kwargs)
    if chosen is not None:
        dedicated_pipe, call = chosen
        steps = kwargs["num_inference_steps"]
        total = schedule.kept_steps(steps, conditions.video.strength) if conditions.video else steps
        # LTX's condition pipeline appends its condition tokens to the latents it loops over.
        keep = type(dedicated_pipe).__name__ != "LTXConditionPipeline"
        return PlainRun(dedicated_pipe, call, total_steps=total, keep_latents=keep)
    space = latent_space_of(pipe)
    known = [
        known_from_pin(space, pin, frames, kwargs["num_frames"])
        for pin, frames in zip(conditions.pins, media.pins, strict=True)
    ]
    strength = conditions.video.strength if conditions.video else 1.0
    video = None if media.video is None else to_length(media.video, space.pipeline_frames(kwargs["num_frames"]))
    return GenericRun(pipe, kwargs, known, video, strength)


def finish(run, pipe, kwargs: dict) -> None:
    """Bring a plain run's final latents into canonical form (the generic run keeps them so)."""
    if isinstance(run, PlainRun) and getattr(pipe, "vae", None) is not None:
        space = latent_space_of(pipe)
        run.finish(space, space.canonical_shape(kwargs["num_frames"], kwargs["height"], kwargs["width"]))
