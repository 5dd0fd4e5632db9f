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

import numpy as np
import torch

from models.accelerators import reset_after_interrupted_call
from models.loader import LoadedModel
from models.recipe import call_arguments, fit_scheduler
from workers.runtime import SampleResult


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


def sample_batch(
    model: LoadedModel,
    batch: list[dict],
    on_step: Callable[[int, int], None],
) -> list[SampleResult]:
    """Render `batch` (the `params` of `sample`, one per video) in one call; one result per video.

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
        "output_type": "np",
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
    step_seconds = [b - a for a, b in itertools.pairwise([started, *step_ends])]
    latents = final.get("latents")
    return [
        SampleResult(
            frames=np.asarray(output.frames[index], dtype=np.float32)[: first["num_frames"]],
            # The batch's time, shared: every video waited for all of it.
            denoise_seconds=last_step - started,
            decode_seconds=finished - last_step,
            step_seconds=step_seconds,
            latents=None if latents is None else latents[index : index + 1].float().cpu(),
        )
        for index in range(len(batch))
    ]
