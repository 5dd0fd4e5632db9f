"""Load a catalog entry into a ready diffusers pipeline (workers only: imports torch).

Every option is checked here, at worker start-up, so a bad catalog fails before the first job.
"""

import fcntl
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import DiffusionPipeline

from models import embedded
from models.accelerators import OptionError, build_cache_config, check_attention_backend, enable_cache, transformers_of
from models.adapters import AdapterError, check_adapter, fuse_adapter
from models.catalog import CatalogEntry
from models.cpu_speedups import apply_cpu_speedups
from models.recipe import component_dtypes, load_arguments, resolve_offload
from models.tiny import build_tiny_pipeline


BUILTIN_PREFIX = "builtin:"
# `builtin:<name>` pipelines that ship as folders in this repository (the rest are built in code).
SHIPPED_PIPELINES = {"embedded": embedded.PIPELINE_DIR}


class ModelLoadError(RuntimeError):
    """A catalog entry cannot be loaded as configured (bad path, class or option)."""


@dataclass
class LoadedModel:
    name: str
    entry: CatalogEntry
    pipeline: DiffusionPipeline
    device: str
    dtype: torch.dtype
    load_seconds: float
    # Bytes of weights and buffers: what the worker's resident-memory budget counts.
    weight_bytes: int = 0
    # The CPU offload in effect (`auto` resolved for this device): offloaded pipelines place themselves.
    offload: str = "none"


def pick_device(entry: CatalogEntry) -> str:
    if entry.device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"model {entry.name!r} asks for device 'cuda' but no CUDA device is available")
    if entry.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return entry.device


def pick_dtype(entry: CatalogEntry, device: str) -> torch.dtype:
    """The transformer's dtype (the other components may differ: `models.recipe.component_dtypes`)."""
    dtypes = component_dtypes(entry, device)
    return dtypes.get("transformer", dtypes["default"])


def gpu_memory_bytes(device: str) -> int | None:
    return torch.cuda.get_device_properties(0).total_memory if device == "cuda" else None


def resolve_path(entry: CatalogEntry, data_dir: Path) -> str:
    if not entry.path.startswith(BUILTIN_PREFIX):
        return entry.path
    name = entry.path[len(BUILTIN_PREFIX) :]
    if name in SHIPPED_PIPELINES:
        return str(SHIPPED_PIPELINES[name])
    target = Path(data_dir).resolve() / "builtin" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    # Several workers may start at once; one builds, the others wait and reuse.
    with open(target.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            try:
                build_tiny_pipeline(name, target)
            except ValueError as exc:
                raise ModelLoadError(f"model {entry.name!r}: {exc}") from None
    return str(target)


def check_options(entry: CatalogEntry, device: str) -> None:
    """Everything about the entry's options that can be known before loading weights."""
    if entry.offload in ("model", "sequential") and device != "cuda":
        raise ModelLoadError(f"model {entry.name!r}: offload={entry.offload!r} needs a CUDA device")
    if entry.compile and device != "cuda":
        raise ModelLoadError(f"model {entry.name!r}: compile=true is only supported on CUDA devices")
    try:
        check_attention_backend(entry, device)
        if entry.cache:
            build_cache_config(entry)
        check_adapter(entry)
    except (OptionError, AdapterError) as exc:
        raise ModelLoadError(str(exc)) from None


def apply_options(entry: CatalogEntry, pipe: DiffusionPipeline, device: str, offload: str | None = None) -> None:
    """Place the pipeline and turn on the entry's speed and memory options."""
    offload = offload or resolve_offload(entry, device, gpu_memory_bytes(device))
    if offload == "model":
        pipe.enable_model_cpu_offload()
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload()
    else:
        pipe.to(device)
    if device == "cpu" and entry.cpu_speedups and not entry.attention_backend:
        apply_cpu_speedups(pipe)
    if entry.vae_tiling:
        pipe.vae.enable_tiling()
    if entry.vae_slicing:
        pipe.vae.enable_slicing()
    transformers = transformers_of(pipe)
    if entry.attention_backend:
        for transformer in transformers:
            try:
                transformer.set_attention_backend(entry.attention_backend)
            except (ValueError, RuntimeError, ImportError) as exc:
                raise ModelLoadError(
                    f"model {entry.name!r}: attention_backend {entry.attention_backend!r}: {exc}"
                ) from exc
    if entry.cache:
        try:
            enable_cache(entry, pipe)
        except OptionError as exc:
            raise ModelLoadError(str(exc)) from None
    if entry.compile:
        for transformer in transformers:
            compile_transformer(transformer)


def compile_transformer(transformer) -> None:
    """Compile the repeated block class once where diffusers knows it (Wan, LTX, HunyuanVideo): a
    new video size then recompiles one block, not the whole model; else the whole transformer."""
    if getattr(transformer, "_repeated_blocks", None):
        transformer.compile_repeated_blocks(fullgraph=True)
    else:
        transformer.compile(fullgraph=False, dynamic=False)


def parameter_bytes(pipe: DiffusionPipeline) -> int:
    """Bytes held by the pipeline's weights and buffers (what moving it between devices moves)."""
    total = 0
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            total += sum(t.numel() * t.element_size() for t in component.parameters())
            total += sum(t.numel() * t.element_size() for t in component.buffers())
    return total


def load_model(entry: CatalogEntry, data_dir: Path) -> LoadedModel:
    started = time.perf_counter()
    device = pick_device(entry)
    check_options(entry, device)
    dtype = pick_dtype(entry, device)
    path = resolve_path(entry, data_dir)
    try:
        pipe = DiffusionPipeline.from_pretrained(path, **load_arguments(entry, device))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"model {entry.name!r}: cannot load pipeline from {path!r}: {exc}") from exc
    check_pipeline_class(entry, type(pipe).__name__, path)
    check_recipe(entry, pipe)
    try:
        # Fused before placement, caches and compilation, which then see the distilled weights.
        fuse_adapter(entry, pipe)
    except AdapterError as exc:
        raise ModelLoadError(str(exc)) from None
    offload = resolve_offload(entry, device, gpu_memory_bytes(device))
    apply_options(entry, pipe, device, offload)
    pipe.set_progress_bar_config(disable=True)
    seconds = time.perf_counter() - started
    return LoadedModel(entry.name, entry, pipe, device, dtype, seconds, parameter_bytes(pipe), offload)


def check_pipeline_class(entry: CatalogEntry, loaded: str, path: str) -> None:
    """The checkpoint must be what the entry says: a text-to-video pipeline of the family, or an
    image-to-video one for an `image_to_video` entry (and only then: it cannot start from text)."""
    spec = entry.spec
    if loaded in spec.image_pipeline_classes:
        if not entry.image_to_video:
            raise ModelLoadError(
                f"model {entry.name!r}: {path!r} holds a {loaded}, an image-to-video checkpoint: "
                "set `image_to_video = true` in its catalog entry"
            )
        return
    wanted = (
        spec.image_pipeline_classes
        if entry.image_to_video
        else (spec.pipeline_class, *spec.conditioned_pipeline_classes)
    )
    if loaded not in wanted:
        raise ModelLoadError(
            f"model {entry.name!r}: {path!r} holds a {loaded}, but the entry needs {' or '.join(wanted)}"
        )


def check_recipe(entry: CatalogEntry, pipe: DiffusionPipeline) -> None:
    """What only the loaded checkpoint can tell: component names and a second expert."""
    if isinstance(entry.dtype, dict):
        unknown = sorted(set(entry.dtype) - set(pipe.components) - {"default"})
        if unknown:
            raise ModelLoadError(
                f"model {entry.name!r}: dtype names {', '.join(unknown)}, which the pipeline does not have; "
                f"its components are {', '.join(sorted(pipe.components))}"
            )
    if entry.guidance_scale_2 is not None and pipe.config.get("boundary_ratio") is None:
        raise ModelLoadError(
            f"model {entry.name!r}: guidance_scale_2 needs a checkpoint with two experts (Wan 2.2 A14B's "
            "boundary_ratio); this one has one transformer"
        )
