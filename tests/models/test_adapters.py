"""Step-distilled LoRA entries: fused at load through the production loader, refused when wrong."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from diffusers import WanPipeline

from models.catalog import CatalogEntry
from models.loader import ModelLoadError, load_model
from models.tiny import build_tiny_pipeline
from models.tiny.lora import build_lora
from models.tiny.wan import tiny_transformer
from tests.support import ROOT, base_env


TINY_LIMITS = {"default_size": "32x32", "max_side": 128, "max_frames": 33, "native_fps": 8}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    base = build_tiny_pipeline("tiny-wan", root / "tiny-wan")
    lora = build_lora(WanPipeline.from_pretrained(str(base)).transformer, root / "lora", seed=3)
    torch.manual_seed(0)
    # Same layer names, other widths: what a LoRA made for another model size looks like.
    other = tiny_transformer(attention_head_dim=16)
    mismatched = build_lora(other, root / "other-lora", seed=4)
    return {"root": root, "base": base, "lora": lora, "mismatched": mismatched}


def entry(base, lora: str | None, **limits) -> CatalogEntry:
    return CatalogEntry(
        name="tiny-wan-2step",
        family="wan",
        path=str(base),
        lora={"path": lora} if lora else None,
        limits={**TINY_LIMITS, **limits},
    )


def frames(pipeline) -> np.ndarray:
    output = pipeline(
        prompt="a red circle",
        height=32,
        width=32,
        num_frames=5,
        num_inference_steps=2,
        guidance_scale=1.0,
        generator=torch.Generator().manual_seed(7),
        output_type="np",
    )
    return np.asarray(output.frames[0])


def test_a_lora_entry_renders_as_base_plus_adapter_with_its_own_defaults(built, tmp_path):
    distilled = entry(built["base"], str(built["lora"]), default_steps=2, default_guidance=1.0)
    assert distilled.spec.default_steps == 2 and distilled.spec.default_guidance == 1.0
    loaded = load_model(distilled, tmp_path)
    # Fused and unloaded: plain weights, no LoRA layers left to slow every step.
    assert not any("lora" in name for name, _ in loaded.pipeline.transformer.named_modules())
    fused = frames(loaded.pipeline)

    reference = WanPipeline.from_pretrained(str(built["base"]))
    plain = frames(reference)
    reference.load_lora_weights(str(built["lora"]))  # unfused, at scale 1: what fusing must equal
    with_adapter = frames(reference)
    assert np.abs(with_adapter - plain).max() > 1e-2, "the tiny LoRA must change the video"
    np.testing.assert_allclose(fused, with_adapter, atol=1e-4)


def test_a_missing_lora_is_refused_before_any_weights_load(built, tmp_path):
    with pytest.raises(ModelLoadError, match=r"LoRA .*does not exist"):
        load_model(entry(built["base"], str(tmp_path / "nowhere.safetensors")), tmp_path)


def test_a_lora_for_another_architecture_is_refused_with_the_reason(built, tmp_path):
    with pytest.raises(ModelLoadError, match="does not fit this model"):
        load_model(entry(built["base"], str(built["mismatched"])), tmp_path)


def test_a_worker_with_a_missing_lora_stops_at_start_up_and_says_why(built, tmp_path):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        f'[models."tiny-wan-2step"]\nfamily = "wan"\npath = "{built["base"]}"\n'
        f'lora = {{ path = "{tmp_path / "gone.safetensors"}" }}\n'
        '[models."tiny-wan-2step".limits]\n'
        + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in TINY_LIMITS.items())
    )
    env = base_env("redis://127.0.0.1:1/0", tmp_path, catalog)
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker", "--models", "tiny-wan-2step"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "gone.safetensors" in result.stderr and "does not exist" in result.stderr
