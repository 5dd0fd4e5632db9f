"""Seconds per denoising step and peak memory for every family, with and without accelerators.

Each family is built at its full published size with random weights (nothing is downloaded):
transformer and VAE from the published configs written below, so the compute of a step equals
the real model's. Text encoders keep the real width and sequence length but only a few layers
(they run once per video, not per step); `--full-text-encoders` builds them whole, which is what
peak memory without offload really is.

    python -m bench.gpu_families                               # every family, default variants
    python -m bench.gpu_families --families wan2.1-1.3b,ltx-0.9 --steps 6 --variants none,first_block
    python -m bench.gpu_families --size 480x320 --frames 25    # smaller clips for a quick pass
    python -m bench.gpu_families --tiny                        # tiny pipelines on CPU: checks the script

At their default sizes the 13-14B models (Wan 14B at 832x480x81, HunyuanVideo at 1280x720x129)
take many seconds per step, and every variant runs `--steps` of them: in a short GPU slot, name
the families and pass `--size`/`--frames`. Each row prints as soon as it is measured.

Every model runs with its shipped catalog entry's recipe (models/recipe.py): dtypes per component
(Wan's VAE in float32, HunyuanVideo's text encoders and VAE in float16), the scheduler shift for
the size, the default negative prompt, Wan 2.2's second-expert guidance, LTX's 256-token prompts.

Variants (`--variants`): none, first_block, taylorseer, pyramid_attention, faster, compile,
offload (Pyramid Attention Broadcast and FasterCache are refused for Wan and print as skipped). Each is applied through the production loader (`models.loader.apply_options`), the code
a worker runs for a catalog entry with that option, and each gets a freshly built pipeline.
Random weights make the cache accelerators' skip decisions unlike a trained model's: read their
rows as the overhead and the best case, not as the real speed-up.
"""

import argparse
import gc
import resource
import statistics
import time
from dataclasses import dataclass, field

import torch

from models.catalog import CatalogEntry, load_catalog
from models.loader import LoadedModel, ModelLoadError, apply_options, check_options
from models.recipe import component_dtypes
from models.tokenizer import build_word_tokenizer
from workers.runtime import sample


SHIPPED = load_catalog()
PROMPT = "a red fox runs through fresh snow in a pine forest at sunrise, low tracking shot"
WORDS = PROMPT.replace(",", "").split()

# Catalog options per variant; caches tuned so they act within a short run of steps.
VARIANTS = {
    "none": {},
    "first_block": {"cache": {"kind": "first_block", "threshold": 0.05}},
    "taylorseer": {"cache": {"kind": "taylorseer", "options": {"cache_interval": 2, "disable_cache_before_step": 1}}},
    "pyramid_attention": {"cache": {"kind": "pyramid_attention"}},
    "faster": {"cache": {"kind": "faster"}},
    "compile": {"compile": True},
    "offload": {"offload": "model"},
}
DEFAULT_VARIANTS = "none,first_block,taylorseer,compile"


@dataclass
class Bench:
    """One published model: its family, how to build it, and its tiny stand-in for `--tiny`."""

    family: str
    # Its entry in the shipped catalog, whose recipe the run uses.
    catalog_name: str
    transformer: dict = field(default_factory=dict)
    tiny: str = ""
    tiny_size: str = "32x32"
    tiny_frames: int = 9


# The published transformer configs. Each diffusers class defaults to its published base model;
# the numbers that set the cost are spelled out, with those that differ between checkpoints.
BENCHES = {
    "wan2.1-1.3b": Bench(
        "wan", "wan2.1-t2v-1.3b", {"num_attention_heads": 12, "ffn_dim": 8960, "num_layers": 30}, "tiny-wan"
    ),
    "wan2.1-14b": Bench(
        "wan", "wan2.1-t2v-14b", {"num_attention_heads": 40, "ffn_dim": 13824, "num_layers": 40}, "tiny-wan"
    ),
    # Two 14B experts: a step runs one of them, so the step costs a 14B's and the weights twice that.
    "wan2.2-a14b": Bench(
        "wan", "wan2.2-t2v-a14b", {"num_attention_heads": 40, "ffn_dim": 13824, "num_layers": 40}, "tiny-wan22"
    ),
    "ltx-0.9": Bench(
        "ltx",
        "ltx-video-0.9",
        {"num_attention_heads": 32, "attention_head_dim": 64, "num_layers": 28},
        "tiny-ltx",
        "64x32",
    ),
    "cogvideox-2b": Bench(
        "cogvideox",
        "cogvideox-2b",
        {"num_attention_heads": 30, "num_layers": 30, "use_rotary_positional_embeddings": False},
        "tiny-cogvideox",
        "48x32",
    ),
    "cogvideox-5b": Bench(
        "cogvideox",
        "cogvideox-5b",
        {"num_attention_heads": 48, "num_layers": 42, "use_rotary_positional_embeddings": True},
        "tiny-cogvideox",
        "48x32",
    ),
    "hunyuanvideo": Bench(
        "hunyuan",
        "hunyuanvideo",
        {"num_attention_heads": 24, "num_layers": 20, "num_single_layers": 40},
        "tiny-hunyuan",
        "48x32",
    ),
    "mochi-1-preview": Bench(
        "mochi", "mochi-1-preview", {"num_attention_heads": 24, "num_layers": 48}, "tiny-mochi", "48x32", tiny_frames=7
    ),
}


def materialize(build, device: str, dtype: torch.dtype, seed: int):
    """Construct a module without allocating, then fill its weights on `device` with N(0, 0.02):
    a 14B transformer takes seconds on a GPU instead of minutes of CPU initialisation."""
    from accelerate import init_empty_weights
    from accelerate.utils import set_module_tensor_to_device

    with init_empty_weights():
        module = build()
    generator = torch.Generator(device=device).manual_seed(seed)
    for name, param in list(module.named_parameters()):
        value = torch.empty(param.shape, device=device, dtype=dtype).normal_(0.0, 0.02, generator=generator)
        set_module_tensor_to_device(module, name, device, value=value, dtype=dtype)
    # Buffers (rotary tables and the like) were computed for real: keep their values and dtypes.
    for name, buffer in list(module.named_buffers()):
        set_module_tensor_to_device(module, name, device, value=buffer.to(device))
    # Replacing parameters one by one unties shared ones (T5's input embeddings): tie them again.
    if hasattr(module, "tie_weights"):
        module.tie_weights()
    return module.eval()


def t5_xxl(tokenizer, layers: int, umt5: bool = False):
    """T5-XXL's width (Wan's UMT5-XXL has the same shape), with `layers` of its 24 layers."""
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    config_class, model_class = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    config = config_class(
        vocab_size=256384 if umt5 else 32128,
        d_model=4096,
        d_kv=64,
        d_ff=10240,
        num_heads=64,
        num_layers=layers,
        feed_forward_proj="gated-gelu",
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    return lambda: model_class(config)


def build_full(name: str, bench: Bench, device: str, dtypes: dict[str, torch.dtype], full_text: bool):
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel

    tokenizer = build_word_tokenizer(WORDS, model_max_length=512)
    layers = 24 if full_text else 2

    def made(build, component: str, seed: int = 0):
        return materialize(build, device, dtypes.get(component, dtypes["default"]), seed)

    if bench.family == "wan":

        def make_transformer():
            return diffusers.WanTransformer3DModel(**bench.transformer)

        parts = dict(
            text_encoder=made(t5_xxl(tokenizer, layers, umt5=True), "text_encoder"),
            vae=made(diffusers.AutoencoderKLWan, "vae"),
            transformer=made(make_transformer, "transformer"),
            # The scheduler the Wan checkpoints ship; the run sets its flow_shift for the size.
            scheduler=diffusers.UniPCMultistepScheduler(
                prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0
            ),
        )
        if name == "wan2.2-a14b":
            parts.update(transformer_2=made(make_transformer, "transformer_2", seed=1), boundary_ratio=0.875)
        return diffusers.WanPipeline(tokenizer=tokenizer, **parts)
    if bench.family == "ltx":
        return diffusers.LTXPipeline(
            tokenizer=tokenizer,
            text_encoder=made(t5_xxl(tokenizer, layers), "text_encoder"),
            vae=made(diffusers.AutoencoderKLLTXVideo, "vae"),
            transformer=made(lambda: diffusers.LTXVideoTransformer3DModel(**bench.transformer), "transformer"),
            scheduler=diffusers.FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True),
        )
    if bench.family == "cogvideox":
        scheduler = diffusers.CogVideoXDPMScheduler() if name.endswith("5b") else diffusers.CogVideoXDDIMScheduler()
        return diffusers.CogVideoXPipeline(
            tokenizer=tokenizer,
            text_encoder=made(t5_xxl(tokenizer, layers), "text_encoder"),
            vae=made(diffusers.AutoencoderKLCogVideoX, "vae"),
            transformer=made(lambda: diffusers.CogVideoXTransformer3DModel(**bench.transformer), "transformer"),
            scheduler=scheduler,
        )
    if bench.family == "hunyuan":
        # The text encoder is llava-llama-3-8b's language model; the pipeline reads its third-last layer.
        llama = LlamaConfig(
            vocab_size=128320,
            hidden_size=4096,
            intermediate_size=14336,
            num_attention_heads=32,
            num_key_value_heads=8,
            num_hidden_layers=32 if full_text else 3,
            pad_token_id=tokenizer.pad_token_id,
        )
        clip = CLIPTextConfig(
            vocab_size=49408,
            hidden_size=768,
            intermediate_size=3072,
            num_attention_heads=12,
            num_hidden_layers=12,
            projection_dim=768,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        return diffusers.HunyuanVideoPipeline(
            tokenizer=tokenizer,
            text_encoder=made(lambda: LlamaModel(llama), "text_encoder"),
            tokenizer_2=build_word_tokenizer(WORDS, model_max_length=77),
            text_encoder_2=made(lambda: CLIPTextModel(clip), "text_encoder_2"),
            vae=made(diffusers.AutoencoderKLHunyuanVideo, "vae"),
            transformer=made(lambda: diffusers.HunyuanVideoTransformer3DModel(**bench.transformer), "transformer"),
            scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=7.0),
        )
    if bench.family == "mochi":
        return diffusers.MochiPipeline(
            tokenizer=tokenizer,
            text_encoder=made(t5_xxl(tokenizer, layers), "text_encoder"),
            vae=made(diffusers.AutoencoderKLMochi, "vae"),
            transformer=made(lambda: diffusers.MochiTransformer3DModel(**bench.transformer), "transformer"),
            scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        )
    raise ValueError(f"no builder for family {bench.family!r}")


def build_tiny(bench: Bench):
    import importlib

    from models.tiny.registry import BUILDERS

    return importlib.import_module(BUILDERS[bench.tiny]).build(0)


def peak_memory_gib(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    # Linux reports KiB; the process' high-water mark (it cannot be reset between runs).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_variant(name: str, bench: Bench, variant: str, args) -> dict:
    device = "cpu" if args.tiny else "cuda"
    # The shipped entry's recipe; offload and accelerators come from the variant alone.
    recipe = SHIPPED[bench.catalog_name].model_dump(include={"dtype", "flow_shift", "guidance_scale_2", "limits"})
    if args.tiny:
        recipe["dtype"] = "float32"  # what a CPU worker runs
    entry = CatalogEntry(
        name=f"bench-{name}",
        family=bench.family,
        path="bench",
        vae_tiling=not args.no_vae_tiling,
        **recipe,
        **VARIANTS[variant],
    )
    check_options(entry, device)
    dtypes = component_dtypes(entry, device)
    size = args.size or (bench.tiny_size if args.tiny else entry.spec.default_size)
    frames = args.frames or (bench.tiny_frames if args.tiny else entry.spec.default_frames)
    width, height = map(int, size.split("x"))
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    pipeline = build_tiny(bench) if args.tiny else build_full(name, bench, device, dtypes, args.full_text_encoders)
    apply_options(entry, pipeline, device)
    pipeline.set_progress_bar_config(disable=True)
    built = time.perf_counter() - started
    dtype = dtypes.get("transformer", dtypes["default"])
    model = LoadedModel(entry.name, entry, pipeline, device, dtype, built, offload=entry.offload)
    params = {
        "prompt": PROMPT,
        "negative_prompt": None,
        "height": height,
        "width": width,
        "num_frames": frames,
        "num_inference_steps": args.steps,
        "guidance_scale": entry.spec.default_guidance,
        "seed": 0,
        "fps": entry.spec.native_fps,
    }
    result = sample(model, params, lambda done, total: None)
    steps = result.step_seconds
    row = {
        "model": name,
        "variant": variant,
        "video": f"{size}x{frames}",
        "build_s": built,
        "first_step_s": steps[0],
        # The first step pays for warm-up (and compilation): the rest is the steady state.
        "step_s": statistics.median(steps[1:] or steps),
        "decode_s": result.decode_seconds,
        "peak_gib": peak_memory_gib(device),
    }
    del model, pipeline, result
    gc.collect()
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny pipelines on CPU (checks the script, no GPU)")
    parser.add_argument("--families", default=",".join(BENCHES), help=f"comma list of: {', '.join(BENCHES)}")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"comma list of: {', '.join(VARIANTS)}")
    parser.add_argument("--steps", type=int, default=6, help="denoising steps per run (the first is warm-up)")
    parser.add_argument("--size", help="WIDTHxHEIGHT instead of the family's default size")
    parser.add_argument("--frames", type=int, help="frame count instead of the family's default")
    parser.add_argument("--full-text-encoders", action="store_true", help="build text encoders at full depth")
    parser.add_argument("--no-vae-tiling", action="store_true", help="decode in one piece (more memory)")
    args = parser.parse_args(argv)
    if not args.tiny and not torch.cuda.is_available():
        parser.error("no CUDA device: run with --tiny to check the script on CPU")
    names = [n.strip() for n in args.families.split(",") if n.strip()]
    unknown = [n for n in names + args.variants.split(",") if n not in BENCHES and n not in VARIANTS]
    if unknown:
        parser.error(f"unknown families or variants: {', '.join(unknown)}")
    device_name = "CPU (tiny pipelines)" if args.tiny else torch.cuda.get_device_name()
    print(f"# {device_name}, torch {torch.__version__}, {args.steps} steps, random weights", flush=True)
    print(
        f"{'model':<16} {'variant':<18} {'video':<14} {'s/step':>8} {'1st step':>9} {'decode s':>9} "
        f"{'peak GiB':>9} {'build s':>8}",
        flush=True,
    )
    failures = 0
    for name in names:
        for variant in args.variants.split(","):
            try:
                row = run_variant(name, BENCHES[name], variant, args)
            except ModelLoadError as exc:
                print(f"{name:<16} {variant:<18} skipped: {exc}", flush=True)
                continue
            except torch.cuda.OutOfMemoryError:
                failures += 1
                print(f"{name:<16} {variant:<18} out of GPU memory", flush=True)
                gc.collect()
                torch.cuda.empty_cache()
                continue
            print(
                f"{row['model']:<16} {row['variant']:<18} {row['video']:<14} {row['step_s']:>8.3f} "
                f"{row['first_step_s']:>9.3f} {row['decode_s']:>9.2f} {row['peak_gib']:>9.2f} {row['build_s']:>8.1f}",
                flush=True,
            )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
