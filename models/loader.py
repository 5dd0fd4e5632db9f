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
from models.catalog import CatalogEntry
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


def pick_device(entry: CatalogEntry) -> str:
    if entry.device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"model {entry.name!r} asks for device 'cuda' but no CUDA device is available")
    if entry.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return entry.device


def pick_dtype(entry: CatalogEntry, device: str) -> torch.dtype:
    if entry.dtype == "auto":
        # bf16 halves memory and is what the open checkpoints ship; CPUs are faster in float32.
        return torch.bfloat16 if device == "cuda" else torch.float32
    return getattr(torch, entry.dtype)


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
    if entry.offload != "none" and device != "cuda":
        raise ModelLoadError(f"model {entry.name!r}: offload={entry.offload!r} needs a CUDA device")
    if entry.compile and device != "cuda":
        raise ModelLoadError(f"model {entry.name!r}: compile=true is only supported on CUDA devices")
    try:
        check_attention_backend(entry, device)
        if entry.cache:
            build_cache_config(entry)
    except OptionError as exc:
        raise ModelLoadError(str(exc)) from None


def apply_options(entry: CatalogEntry, pipe: DiffusionPipeline, device: str) -> None:
    """Place the pipeline and turn on the entry's speed and memory options."""
    if entry.offload == "model":
        pipe.enable_model_cpu_offload()
    elif entry.offload == "sequential":
        pipe.enable_sequential_cpu_offload()
    else:
        pipe.to(device)
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
        pipe = DiffusionPipeline.from_pretrained(path, dtype=dtype)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"model {entry.name!r}: cannot load pipeline from {path!r}: {exc}") from exc
    expected = entry.spec.pipeline_class
    if type(pipe).__name__ != expected:
        raise ModelLoadError(
            f"model {entry.name!r}: {path!r} holds a {type(pipe).__name__}, but family {entry.family!r} needs {expected}"
        )
    apply_options(entry, pipe, device)
    pipe.set_progress_bar_config(disable=True)
    seconds = time.perf_counter() - started
    return LoadedModel(entry.name, entry, pipe, device, dtype, seconds, parameter_bytes(pipe))
