"""Step-distilled LoRA adapters: a catalog entry that is a base checkpoint plus LoRA weights.

A 4-step distilled Wan is the base Wan with a LoRA fused into its transformer, so it is a catalog
entry of its own (its own name, queue and `limits.default_steps` / `default_guidance`) that loads
the base and fuses the adapter once at start-up. Fused weights cost nothing per step; the LoRA
layers are dropped after fusing.

A LoRA that is missing, unreadable or made for another architecture stops the worker at start-up
with the reason, like any other bad option.
"""

from pathlib import Path

from models.catalog import CatalogEntry


# The name the adapter has inside the pipeline while it is being fused.
ADAPTER_NAME = "distilled"


class AdapterError(ValueError):
    """The entry's LoRA cannot be found or does not fit the model."""


def _is_local(path: str) -> bool:
    # A hub id is `owner/name`; anything that exists here, is absolute or names a file is local.
    return Path(path).exists() or path.startswith((".", "/", "~")) or path.endswith(".safetensors")


def check_adapter(entry: CatalogEntry) -> None:
    """What can be known before any weights load: a local LoRA must exist."""
    lora = entry.lora
    if lora is None or not _is_local(lora.path):
        return
    path = Path(lora.path).expanduser()
    if not path.exists():
        raise AdapterError(f"model {entry.name!r}: LoRA {lora.path!r} does not exist")
    if path.is_dir() and lora.weight_name and not (path / lora.weight_name).is_file():
        raise AdapterError(f"model {entry.name!r}: LoRA {lora.path!r} has no file {lora.weight_name!r}")


def fuse_adapter(entry: CatalogEntry, pipeline) -> None:
    """Load the entry's LoRA into `pipeline`, fuse it at its scale and drop the LoRA layers."""
    lora = entry.lora
    if lora is None:
        return
    check_adapter(entry)
    if not hasattr(pipeline, "load_lora_weights"):
        raise AdapterError(f"model {entry.name!r}: {type(pipeline).__name__} cannot load LoRA weights")
    source = str(Path(lora.path).expanduser()) if _is_local(lora.path) else lora.path
    kwargs = {"weight_name": lora.weight_name} if lora.weight_name else {}
    try:
        pipeline.load_lora_weights(source, adapter_name=ADAPTER_NAME, **kwargs)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        # Shape mismatches (another architecture), no matching modules, unreadable files.
        raise AdapterError(f"model {entry.name!r}: LoRA {lora.path!r} does not fit this model: {exc}") from exc
    if ADAPTER_NAME not in _adapters_in(pipeline):
        raise AdapterError(
            f"model {entry.name!r}: LoRA {lora.path!r} holds no weights for this model's denoiser "
            "(none of its keys name a layer of it)"
        )
    pipeline.fuse_lora(lora_scale=lora.scale, adapter_names=[ADAPTER_NAME])
    pipeline.unload_lora_weights()


def _adapters_in(pipeline) -> set[str]:
    return {name for names in pipeline.get_list_adapters().values() for name in names}
