"""Speed options of a catalog entry: attention backend and diffusers' cache accelerators.

Cache accelerators (`diffusers.hooks`) reuse transformer work between nearby denoising steps.
Every option is checked by `check_speed_options` before any weights load, so a typo in the
catalog stops the worker at start-up with a message that names the entry and the option.
"""

import dataclasses
from collections.abc import Callable

from models.catalog import CatalogEntry


# catalog `cache.kind` -> (config class in diffusers.hooks, its threshold argument or None)
CACHE_CONFIGS: dict[str, tuple[str, str | None]] = {
    "first_block": ("FirstBlockCacheConfig", "threshold"),
    "mag": ("MagCacheConfig", "threshold"),
    "taylorseer": ("TaylorSeerCacheConfig", None),
    "faster": ("FasterCacheConfig", None),
    "pyramid_attention": ("PyramidAttentionBroadcastConfig", None),
}

# The attention layers TaylorSeer predicts, in every family's transformer (Wan's `blocks.N.attn1`,
# the others' `transformer_blocks.N.attn1`, HunyuanVideo's single blocks).
TAYLORSEER_BLOCKS = (r"^(blocks|transformer_blocks|single_transformer_blocks)\.\d+\.attn\d*$",)

# Attention backends that run without CUDA; the others (flash, sage, cuDNN, xformers...) need it.
CPU_ATTENTION_BACKENDS = frozenset({"native", "_native_math", "flex"})

# Guidance distilled into the transformer: one pass per step, no unconditional half to split off.
GUIDANCE_DISTILLED = frozenset({"HunyuanVideoPipeline"})

# Pipelines that run classifier-free guidance as two transformer calls per step, each in its own
# `cache_context`. First Block Cache, MagCache and TaylorSeer keep state per context; Pyramid
# Attention Broadcast and FasterCache keep one state for both calls, so the unconditional pass
# reuses the conditional one's attention and guidance weakens.
SEPARATE_CFG_PASSES = frozenset({"WanPipeline"})
SHARED_STATE_CACHES = frozenset({"faster", "pyramid_attention"})

# FasterCache blends transformer outputs in frequency space and must know their layout; LTX's
# transformer returns packed tokens (batch, sequence, channels), which it cannot handle.
FASTER_CACHE_TENSOR_FORMATS = {
    "HunyuanVideoPipeline": "BCFHW",
    "MochiPipeline": "BCFHW",
    "CogVideoXPipeline": "BFCHW",
}


# Backends whose kernels take no attention mask: diffusers raises "`attn_mask` is not supported"
# at the first step of a transformer that passes one (diffusers 0.42 `attention_dispatch.py`; the
# varlen flash and sage kernels do take padding masks).
MASKLESS_ATTENTION_BACKENDS = frozenset(
    {
        "flash",
        "flash_hub",
        "flash_4_hub",
        "_flash_3",
        "_flash_3_hub",
        "aiter_fa2_hub",
        "_native_flash",
        "_native_xla",
        "sage",
        "sage_hub",
        "sage_blackwell_hub",
        "_sage_qk_int8_pv_fp8_cuda",
        "_sage_qk_int8_pv_fp8_cuda_sm90",
        "_sage_qk_int8_pv_fp16_cuda",
        "_sage_qk_int8_pv_fp16_triton",
    }
)

# Transformers that pass the text's padding mask to the attention dispatcher.
MASKED_ATTENTION_PIPELINES = frozenset({"LTXPipeline", "HunyuanVideoPipeline"})

# Transformers whose attention processors call torch's SDPA directly: the dispatcher's backend
# setting never reaches them.
SDPA_ONLY_PIPELINES = frozenset({"CogVideoXPipeline", "MochiPipeline"})


class OptionError(ValueError):
    """A speed option in the catalog cannot work as written."""


def attention_backend_names() -> list[str]:
    from diffusers.models.attention_dispatch import AttentionBackendName

    return sorted(b.value for b in AttentionBackendName)


def check_attention_backend(entry: CatalogEntry, device: str) -> None:
    backend = entry.attention_backend
    if backend is None:
        return
    known = attention_backend_names()
    if backend not in known:
        raise OptionError(
            f"model {entry.name!r}: attention_backend {backend!r} is not a diffusers attention backend; "
            f"known: {', '.join(known)}"
        )
    pipeline_class = entry.spec.pipeline_class
    if pipeline_class in SDPA_ONLY_PIPELINES:
        raise OptionError(
            f"model {entry.name!r}: attention_backend {backend!r} has no effect on {pipeline_class}, whose "
            "attention calls torch's scaled_dot_product_attention directly; remove the option"
        )
    if pipeline_class in MASKED_ATTENTION_PIPELINES and backend in MASKLESS_ATTENTION_BACKENDS:
        raise OptionError(
            f"model {entry.name!r}: attention_backend {backend!r} takes no attention mask, and "
            f"{pipeline_class} passes one (the prompt's padding) at every step; use native, "
            "_native_cudnn, _native_efficient, flash_varlen, _flash_varlen_3, sage_varlen or xformers"
        )
    if device != "cuda" and backend not in CPU_ATTENTION_BACKENDS:
        raise OptionError(
            f"model {entry.name!r}: attention_backend {backend!r} needs a CUDA device; on CPU use one of "
            f"{', '.join(sorted(CPU_ATTENTION_BACKENDS))}"
        )


def _cache_defaults(entry: CatalogEntry, current_timestep: Callable[[], int], dtype) -> dict:
    """Working arguments for each kind, where diffusers' own defaults are not enough."""
    spec = entry.spec
    return {
        "first_block": {},
        # MagCache indexes its ratios by step: they are stretched to the model's default step count,
        # which is what requests run unless they ask for another.
        "mag": {"num_inference_steps": spec.default_steps},
        # Taylor factors in the model's dtype (diffusers defaults to bf16, wrong for float32 models).
        # diffusers' default patterns (`^blocks.*attn`, matched whole) name no module of these
        # transformers (`blocks.0.attn1`): without these the cache silently does nothing.
        "taylorseer": {"taylor_factors_dtype": dtype, "cache_identifiers": list(TAYLORSEER_BLOCKS)},
        "faster": {
            "spatial_attention_block_skip_range": 2,
            "attention_weight_callback": lambda _: 0.3,
            "current_timestep_callback": current_timestep,
            "is_guidance_distilled": spec.pipeline_class in GUIDANCE_DISTILLED,
            "tensor_format": FASTER_CACHE_TENSOR_FORMATS.get(spec.pipeline_class),
        },
        "pyramid_attention": {
            "spatial_attention_block_skip_range": 2,
            "current_timestep_callback": current_timestep,
        },
    }[entry.cache.kind]


def build_cache_config(entry: CatalogEntry, current_timestep: Callable[[], int] = lambda: 0, dtype=None):
    """The diffusers config object for `entry.cache`; raises `OptionError` naming the problem."""
    from diffusers import hooks

    options = entry.cache
    class_name, threshold_arg = CACHE_CONFIGS[options.kind]
    config_class = getattr(hooks, class_name, None)
    if config_class is None:
        raise OptionError(
            f"model {entry.name!r}: cache {options.kind!r} needs diffusers.hooks.{class_name}, "
            "which this diffusers version does not have"
        )
    if options.kind in SHARED_STATE_CACHES and entry.spec.pipeline_class in SEPARATE_CFG_PASSES:
        raise OptionError(
            f"model {entry.name!r}: cache {options.kind!r} keeps one state for {entry.spec.pipeline_class}'s "
            "separate conditional and unconditional passes, which weakens guidance; use first_block, mag "
            "or taylorseer (they keep state per pass)"
        )
    if options.kind == "faster" and entry.spec.pipeline_class not in FASTER_CACHE_TENSOR_FORMATS:
        raise OptionError(
            f"model {entry.name!r}: cache 'faster' does not work with {entry.spec.pipeline_class} (its "
            f"transformer output is packed tokens); use first_block, taylorseer or pyramid_attention"
        )
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    # Private fields and callbacks are ours to set; TOML cannot express a function anyway.
    settable = sorted(n for n in fields if not n.startswith("_") and not n.endswith("_callback"))
    arguments = _cache_defaults(entry, current_timestep, dtype)
    if options.threshold is not None:
        if threshold_arg is None:
            raise OptionError(
                f"model {entry.name!r}: cache {options.kind!r} has no threshold; its settings are "
                f"{', '.join(settable)} (set them under cache.options)"
            )
        if options.threshold <= 0:
            raise OptionError(f"model {entry.name!r}: cache threshold must be positive, not {options.threshold}")
        arguments[threshold_arg] = options.threshold
    for name, value in options.options.items():
        if name not in settable:
            raise OptionError(
                f"model {entry.name!r}: cache {options.kind!r} has no option {name!r}; "
                f"{class_name} takes {', '.join(settable)}"
            )
        # TOML has no tuples; diffusers compares ranges as tuples.
        arguments[name] = tuple(value) if isinstance(value, list) and isinstance(fields[name].default, tuple) else value
    if options.kind == "mag" and "mag_ratios" not in arguments and not arguments.get("calibrate"):
        raise OptionError(
            f"model {entry.name!r}: cache 'mag' needs cache.options.mag_ratios, calibrated for this model "
            "(run once with cache.options.calibrate = true to print them)"
        )
    try:
        return config_class(**arguments)
    except (TypeError, ValueError) as exc:
        raise OptionError(f"model {entry.name!r}: cache {options.kind!r}: {exc}") from None


def transformers_of(pipeline) -> list:
    """The denoising transformers: one, or two for Wan 2.2's high- and low-noise experts."""
    candidates = (getattr(pipeline, "transformer", None), getattr(pipeline, "transformer_2", None))
    return [module for module in candidates if module is not None]


def enable_cache(entry: CatalogEntry, pipeline) -> None:
    for transformer in transformers_of(pipeline):
        # Each transformer gets its own config: hook state must not be shared between them.
        config = build_cache_config(entry, lambda: pipeline.current_timestep, transformer.dtype)
        try:
            transformer.enable_cache(config)
        except (AttributeError, TypeError, ValueError) as exc:
            raise OptionError(f"model {entry.name!r}: cache {entry.cache.kind!r} cannot be enabled: {exc}") from exc


def reset_after_interrupted_call(pipeline) -> None:
    """Do what a pipeline call does when it completes (`maybe_free_model_hooks`): reset every
    denoiser's cache state (both of Wan 2.2's experts) and put offloaded components back.

    A cancelled, timed-out or failed call skips that step, and the next video would reuse the
    half-filled cache: First Block Cache then compares residuals of another size and every later
    render of that size fails.
    """
    pipeline.maybe_free_model_hooks()
