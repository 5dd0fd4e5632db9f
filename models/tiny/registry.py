"""`builtin:<name>` catalog paths: pipelines built in code and saved once under the data dir."""

import importlib
from pathlib import Path


# name -> module with a `build(seed) -> DiffusionPipeline` function
BUILDERS: dict[str, str] = {
    "tiny-wan": "models.tiny.wan",
    "tiny-wan22": "models.tiny.wan22",
    "tiny-wan-vace": "models.tiny.wan_vace",
    "tiny-wan-i2v": "models.tiny.wan_i2v",
    "tiny-ltx": "models.tiny.ltx",
    "tiny-cogvideox": "models.tiny.cogvideox",
    "tiny-hunyuan": "models.tiny.hunyuan",
    "tiny-mochi": "models.tiny.mochi",
}


def build_tiny_pipeline(name: str, target: Path, seed: int = 0) -> Path:
    """Build `name` with a fixed seed and save it to `target` (a standard pipeline folder)."""
    if name not in BUILDERS:
        raise ValueError(f"unknown builtin pipeline {name!r}; known: {', '.join(sorted(BUILDERS))}")
    pipeline = importlib.import_module(BUILDERS[name]).build(seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    pipeline.save_pretrained(partial)
    partial.rename(target)
    return target
