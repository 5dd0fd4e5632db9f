"""Pipelines resident in this worker process, and one sampler run with per-step reporting."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.catalog import Catalog
from models.loader import LoadedModel, load_model


class RenderCancelled(Exception):
    """The video was cancelled or deleted while it was being sampled."""


class ResidentModels:
    """Loads each served model once at start-up and keeps it in memory."""

    def __init__(self, catalog: Catalog, names: list[str], data_dir: Path):
        self.loaded: dict[str, LoadedModel] = {}
        for name in tqdm(names, desc="Loading models", unit="model"):
            self.loaded[name] = load_model(catalog[name], data_dir)
            tqdm.write(f"loaded {name} on {self.loaded[name].device} in {self.loaded[name].load_seconds:.1f}s")

    @property
    def names(self) -> list[str]:
        return list(self.loaded)

    def get(self, name: str) -> tuple[LoadedModel, float]:
        """The model and the seconds it took to make it ready for this job (0 when resident)."""
        return self.loaded[name], 0.0


@dataclass
class SampleResult:
    frames: np.ndarray  # (F, H, W, 3) floats in [0, 1]
    denoise_seconds: float
    decode_seconds: float
    step_seconds: list[float] = field(default_factory=list)


def sample(
    model: LoadedModel,
    params: dict,
    on_step: Callable[[int, int], None],
) -> SampleResult:
    """Run the pipeline; `on_step(done, total)` runs after every denoising step and may raise
    `RenderCancelled` to stop at once."""
    spec = model.entry.spec
    steps = params["num_inference_steps"]
    step_ends: list[float] = []

    def callback(pipe, step_index, timestep, callback_kwargs):
        step_ends.append(time.perf_counter())
        on_step(step_index + 1, steps)
        return callback_kwargs

    kwargs = {
        "prompt": params["prompt"],
        "height": params["height"],
        "width": params["width"],
        "num_frames": params["num_frames"],
        "num_inference_steps": steps,
        "guidance_scale": params["guidance_scale"],
        # A CPU generator makes the same seed give the same video on any device.
        "generator": torch.Generator(device="cpu").manual_seed(params["seed"]),
        "output_type": "np",
        "callback_on_step_end": callback,
        **spec.extra_call_kwargs,
    }
    if spec.supports_negative_prompt and params.get("negative_prompt"):
        kwargs["negative_prompt"] = params["negative_prompt"]
    started = time.perf_counter()
    with torch.inference_mode():
        output = model.pipeline(**kwargs)
    finished = time.perf_counter()
    frames = np.asarray(output.frames[0], dtype=np.float32)
    last_step = step_ends[-1] if step_ends else started
    boundaries = [started, *step_ends]
    return SampleResult(
        frames=frames,
        denoise_seconds=last_step - started,
        # Everything after the last step: VAE decode and post-processing.
        decode_seconds=finished - last_step,
        step_seconds=[b - a for a, b in zip(boundaries, boundaries[1:], strict=False)],
    )
