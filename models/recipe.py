"""How a catalog entry is run: the settings the model's authors publish, resolved without weights.

`load_arguments` gives the keyword arguments of `DiffusionPipeline.from_pretrained` (a dtype per
component, the weights variant), `resolve_offload` the CPU offload for the device at hand,
`scheduler_overrides` the scheduler config for a video's size, and `call_arguments` the family's
own pipeline-call arguments. The loader and `sample()` use these and nothing else, so a test can
compare them with the model cards (tests/models/test_recipes.py) without a GPU or a download.
Workers only: imports torch.
"""

import torch

from models.catalog import CatalogEntry


# Dtype per component on a GPU when the entry says `dtype = "auto"`; "default" covers the rest.
GPU_DTYPES: dict[str, dict[str, str]] = {
    # Wan 2.1/2.2 cards and diffusers' Wan docs load the VAE in float32 next to a bf16 transformer:
    # its decoder in bf16 shows banding and colour shifts.
    "wan": {"default": "bfloat16", "vae": "float32"},
    # diffusers' HunyuanVideo docs: transformer in bf16, the Llama and CLIP text encoders and the VAE
    # in float16 (the precision they were released in).
    "hunyuan": {"default": "float16", "transformer": "bfloat16"},
    "ltx": {"default": "bfloat16"},
    # CogVideoX-5B's card recommends bf16; the 2B's card recommends float16 (set on its entry).
    "cogvideox": {"default": "bfloat16"},
    "mochi": {"default": "bfloat16"},
    "embedded": {"default": "bfloat16"},
}

# Scheduler shift by the video's short side (the smallest tier that covers it; beyond the largest
# tier, the largest). Wan2.1 card: "flow_shift: 5.0 for 720P, 3.0 for 480P".
FLOW_SHIFTS: dict[str, dict[int, float]] = {"wan": {480: 3.0, 720: 5.0}}

# The config keys that hold a flow-matching shift: UniPC (Wan's checkpoints) and flow-match Euler.
SHIFT_KEYS = ("flow_shift", "shift")

# What a GPU loses to the CUDA context and allocator besides the card's stated peak.
GPU_HEADROOM_BYTES = 2 << 30


def component_dtypes(entry: CatalogEntry, device: str) -> dict[str, torch.dtype]:
    """The `dtype=` of `from_pretrained`: one dtype per component, with a "default"."""
    if device != "cuda" and entry.dtype == "auto":
        # CPUs are fast in float32 and slow (or wrong) in half precision.
        return {"default": torch.float32}
    if entry.dtype == "auto":
        names = GPU_DTYPES.get(entry.family, {"default": "bfloat16"})
    elif isinstance(entry.dtype, str):
        names = {"default": entry.dtype}
    else:
        names = {"default": GPU_DTYPES.get(entry.family, {}).get("default", "bfloat16"), **entry.dtype}
    return {component: getattr(torch, name) for component, name in names.items()}


def load_arguments(entry: CatalogEntry, device: str) -> dict:
    """The keyword arguments of `DiffusionPipeline.from_pretrained` for this entry on `device`."""
    arguments: dict = {"dtype": component_dtypes(entry, device)}
    if entry.variant:
        arguments["variant"] = entry.variant
    return arguments


def resolve_offload(entry: CatalogEntry, device: str, gpu_bytes: int | None) -> str:
    """`none`, `model` or `sequential`. `auto` offloads only where the GPU is smaller than what the
    entry needs resident (`gpu_memory_gb`, the peak its card states) plus some headroom."""
    if entry.offload != "auto":
        return entry.offload
    if device != "cuda" or gpu_bytes is None:
        return "none"
    needed = int((entry.gpu_memory_gb or 0) * (1 << 30)) + GPU_HEADROOM_BYTES
    return "model" if gpu_bytes < needed else "none"


def flow_shift(entry: CatalogEntry, height: int, width: int) -> float | None:
    """The scheduler shift for a video of this size, or None to keep the checkpoint's own."""
    tiers = entry.flow_shift if entry.flow_shift is not None else FLOW_SHIFTS.get(entry.family)
    if tiers is None or isinstance(tiers, float | int):
        return tiers
    by_side = sorted((int(str(side).removesuffix("p")), float(shift)) for side, shift in tiers.items())
    short_side = min(height, width)
    return next((shift for side, shift in by_side if short_side <= side), by_side[-1][1])


def scheduler_overrides(entry: CatalogEntry, scheduler_config: dict, height: int, width: int) -> dict:
    """Config values to change on the pipeline's scheduler for this video (empty: keep it)."""
    shift = flow_shift(entry, height, width)
    if shift is None:
        return {}
    for key in SHIFT_KEYS:
        # A flow-match Euler scheduler that shifts by resolution itself is left alone.
        if key in scheduler_config and not scheduler_config.get("use_dynamic_shifting"):
            return {} if scheduler_config[key] == shift else {key: shift}
    return {}


def fit_scheduler(pipeline, entry: CatalogEntry, height: int, width: int) -> None:
    """Give the pipeline the scheduler this video's size calls for (a cheap config copy)."""
    overrides = scheduler_overrides(entry, dict(pipeline.scheduler.config), height, width)
    if overrides:
        pipeline.scheduler = type(pipeline.scheduler).from_config(pipeline.scheduler.config, **overrides)


def call_arguments(entry: CatalogEntry, params: dict, scheduler_class: str) -> dict:
    """The family's own pipeline-call arguments for one video (`sample()` adds the common ones)."""
    spec = entry.spec
    arguments = {**spec.extra_call_kwargs, **spec.scheduler_call_kwargs.get(scheduler_class, {})}
    if spec.frame_rate_kwarg:
        arguments[spec.frame_rate_kwarg] = params.get("fps") or spec.native_fps
    if spec.supports_negative_prompt:
        negative = params.get("negative_prompt")
        # Records made before a family had a default still get it; an explicit "" stays empty.
        negative = spec.default_negative_prompt if negative is None else negative
        if negative:
            arguments["negative_prompt"] = negative
    if entry.guidance_scale_2 is not None:
        # Wan 2.2's low-noise expert has its own guidance (the A14B's published pair is 4.0 / 3.0).
        arguments["guidance_scale_2"] = entry.guidance_scale_2
    return arguments
