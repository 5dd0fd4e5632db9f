"""Pipelines resident in this worker process, and one sampler run with per-step reporting."""

import gc
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.accelerators import reset_after_interrupted_call
from models.catalog import Catalog
from models.loader import LoadedModel, ModelLoadError, check_options, load_model, pick_device
from models.recipe import call_arguments, fit_scheduler
from workers.conditioning import Conditions
from workers.conditioning.runs import begin as conditioned_run
from workers.conditioning.runs import finish as finish_run
from workers.previews import on_step as preview_step
from workers.residency import Residency


log = logging.getLogger(__name__)

# Share of GPU memory the resident models' weights may take when no budget is set; the rest is
# left for activations, which for video are large.
DEFAULT_GPU_BUDGET_SHARE = 0.75


class RenderCancelled(Exception):
    """The video was cancelled or deleted while it was being sampled."""


class ResidentModels:
    """Loads each served model at start-up and keeps as many ready as the memory budget allows.

    A model that cannot load (bad path, bad option) is remembered with its reason: its jobs fail
    at once with `model_load_failed` instead of waiting forever, and the other models still
    serve. When none loads, start-up fails.

    Models whose weights do not all fit the budget (`T2V_RESIDENT_BUDGET_MB`; on CUDA 75% of the
    GPU by default, the rest is left for activations) take turns, least recently used out first:
    on CUDA a model makes way by moving to CPU RAM, on CPU by being dropped and later read back
    from disk. `get` reports the seconds a swap took, which the job records as its `load` time.
    Models with CPU offload manage their own placement: never counted, swapped or moved.
    """

    def __init__(self, catalog: Catalog, names: list[str], data_dir: Path, budget_mb: int | None = None):
        self.data_dir = data_dir
        self.residency = Residency(_budget_bytes(budget_mb))
        self.entries = {name: catalog[name] for name in names}
        # Pipelines in memory: on their device, or parked in CPU RAM when evicted from a GPU.
        self.loaded: dict[str, LoadedModel] = {}
        self.weight_bytes: dict[str, int] = {}
        self.failed: dict[str, str] = {}
        # Options first, for every model: a typo in the last one shows before the first loads.
        for name, entry in self.entries.items():
            try:
                check_options(entry, pick_device(entry))
            except ModelLoadError as exc:
                self.failed[name] = str(exc)
                tqdm.write(f"FAILED to load {name}: {exc}")
        for name in tqdm([n for n in names if n not in self.failed], desc="Loading models", unit="model"):
            try:
                model = load_model(self.entries[name], data_dir)
            except ModelLoadError as exc:
                self.failed[name] = str(exc)
                tqdm.write(f"FAILED to load {name}: {exc}")
                continue
            self.loaded[name] = model
            self.weight_bytes[name] = model.weight_bytes
            if model.offload != "none":
                self.residency.place_self(name)
            else:
                self._make_room_for(name)
                self.residency.admit(name, model.weight_bytes)
            tqdm.write(f"loaded {name} on {model.device} in {model.load_seconds:.1f}s")
        if not self.loaded:
            raise ModelLoadError("; ".join(self.failed.values()))

    @property
    def resident(self) -> OrderedDict[str, int]:
        """Models on their device within the budget, least recently used first."""
        return self.residency.on_device

    @property
    def names(self) -> list[str]:
        return [name for name in self.entries if name not in self.failed]

    def get(self, name: str) -> tuple[LoadedModel, float]:
        """The model and the seconds it took to make it ready for this job (0 when resident)."""
        if name in self.failed:
            raise ModelLoadError(self.failed[name])
        if name not in self.entries:
            raise KeyError(name)
        if self.residency.is_ready(name):
            return self.loaded[name], 0.0
        started = time.perf_counter()
        self._make_room_for(name)
        parked = self.loaded.get(name)
        if parked is not None:
            parked.pipeline.to(parked.device)
        else:
            self.loaded[name] = load_model(self.entries[name], self.data_dir)
        self.residency.admit(name, self.weight_bytes[name])
        seconds = time.perf_counter() - started
        log.info("swapped in %s in %.2fs", name, seconds)
        return self.loaded[name], seconds

    def _make_room_for(self, name: str) -> None:
        """Evict least recently used models until `name` fits (or nothing else is left)."""
        needed = self.weight_bytes[name]
        for victim in self.residency.make_room(needed):
            model = self.loaded[victim]
            if model.device == "cuda":
                model.pipeline.to("cpu")
                # Return the freed blocks to the driver instead of keeping them cached for this model.
                torch.cuda.empty_cache()
            else:
                del self.loaded[victim]
                gc.collect()
            log.info("evicted %s to make room for %s", victim, name)
        if not self.residency.fits_alone(needed):
            log.warning("%s alone (%d MiB) is larger than the resident budget", name, needed >> 20)


def _budget_bytes(budget_mb: int | None) -> int | None:
    if budget_mb is not None:
        return budget_mb << 20
    if torch.cuda.is_available():
        return int(torch.cuda.get_device_properties(0).total_memory * DEFAULT_GPU_BUDGET_SHARE)
    # CPU-only: no limit unless one is set; the OS swaps long before a budget would help.
    return None


@dataclass
class SampleResult:
    frames: np.ndarray  # (F, H, W, 3) floats in [0, 1]
    denoise_seconds: float
    decode_seconds: float
    step_seconds: list[float] = field(default_factory=list)
    # The denoised latents before decoding, (1, C, f, h, w) float32 on the CPU (None where the
    # pipeline's loop holds more than the video); see workers.conditioning.
    latents: torch.Tensor | None = None


def sample_params(record: dict) -> dict:
    """What `sample` needs from a video record: the revised prompt when expansion made one."""
    return {
        "prompt": record["revised_prompt"] or record["prompt"],
        "negative_prompt": record["negative_prompt"],
        "height": record["height"],
        "width": record["width"],
        "num_frames": record["num_frames"],
        "num_inference_steps": record["num_inference_steps"],
        "guidance_scale": record["guidance_scale"],
        "seed": record["seed"],
        "fps": record["fps"],
    }


def sample(
    model: LoadedModel,
    params: dict,
    on_step: Callable[[int, int], None],
    conditions: Conditions | None = None,
    read_input: Callable[[str], bytes] | None = None,
) -> SampleResult:
    """Run the pipeline; `on_step(done, total)` runs after every denoising step and may raise
    `RenderCancelled` to stop at once. `conditions` (pinned frames, a source video, references)
    are applied by workers.conditioning, which reads stored inputs through `read_input`."""
    steps = params["num_inference_steps"]
    step_ends: list[float] = []

    def callback(pipe, step_index, timestep, callback_kwargs):
        step_ends.append(time.perf_counter())
        preview_step(step_index + 1, run.total_steps, callback_kwargs)
        on_step(step_index + 1, run.total_steps)
        return run.after_step(pipe, step_index, timestep, callback_kwargs)

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
        # The family's own: frame rate, negative prompt, decode settings, second-expert guidance.
        **call_arguments(model.entry, params, type(model.pipeline.scheduler).__name__),
    }
    # The scheduler shift the model's authors use at this size (Wan: 3.0 at 480p, 5.0 at 720p).
    fit_scheduler(model.pipeline, model.entry, params["height"], params["width"])
    started = time.perf_counter()
    try:
        with torch.inference_mode(), conditioned_run(model.pipeline, kwargs, conditions, read_input) as run:
            output = run.pipeline(**run.kwargs)
    except BaseException:
        # Cancel, timeout, out-of-memory or any failure: the pipeline's own cleanup never ran.
        _reset_quietly(model)
        raise
    finished = time.perf_counter()
    finish_run(run, model.pipeline, kwargs)
    # WanPipeline makes one extra frame when its VAE has no temporal compression (n*1+1); the
    # video holds exactly the frames the record promises.
    frames = np.asarray(output.frames[0], dtype=np.float32)[: params["num_frames"]]
    last_step = step_ends[-1] if step_ends else started
    boundaries = [started, *step_ends]
    return SampleResult(
        frames=frames,
        denoise_seconds=last_step - started,
        # Everything after the last step: VAE decode and post-processing.
        decode_seconds=finished - last_step,
        step_seconds=[b - a for a, b in itertools.pairwise(boundaries)],
        latents=run.final_latents,
    )


def _reset_quietly(model: LoadedModel) -> None:
    """Reset caches and offload hooks after an interrupted call without masking why it stopped."""
    try:
        reset_after_interrupted_call(model.pipeline)
    except Exception:
        log.exception("could not reset %s after an interrupted render", model.name)
