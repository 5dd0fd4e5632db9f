"""The CUDA-only paths of the loader and the resident-model budget: each family's published dtypes
per component, CPU offload (and `auto`), regional torch.compile, GPU attention backends, and
swapping between GPU and CPU RAM."""

import pytest
import torch

from models.catalog import CatalogEntry, load_catalog
from models.loader import load_model
from models.recipe import component_dtypes
from tests.conftest import TEST_CATALOG
from workers.runtime import RenderCancelled, ResidentModels, sample


pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

FAMILIES = [
    ("builtin:tiny-wan", "wan", 32, 32, 9),
    ("builtin:tiny-ltx", "ltx", 64, 32, 9),
    ("builtin:tiny-cogvideox", "cogvideox", 48, 32, 9),
    ("builtin:tiny-hunyuan", "hunyuan", 48, 32, 9),
    ("builtin:tiny-mochi", "mochi", 48, 32, 7),
]


def run(model, width: int, height: int, frames: int):
    params = {
        "prompt": "a red ball moving left",
        "negative_prompt": None,
        "height": height,
        "width": width,
        "num_frames": frames,
        "num_inference_steps": 2,
        "guidance_scale": 2.0,
        "seed": 0,
        "fps": 8,
    }
    result = sample(model, params, lambda done, total: None)
    assert result.frames.shape == (frames, height, width, 3)
    return result


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("gpu")


@pytest.mark.parametrize(("path", "family", "width", "height", "frames"), FAMILIES, ids=[f[1] for f in FAMILIES])
def test_auto_dtypes_are_the_familys_published_ones_on_the_gpu(data_dir, path, family, width, height, frames):
    entry = CatalogEntry(name=f"gpu-{family}", family=family, path=path)
    model = load_model(entry, data_dir)
    assert model.device == "cuda" and model.dtype == torch.bfloat16
    assert model.pipeline.transformer.device.type == "cuda"
    # Wan's VAE in float32, HunyuanVideo's text encoders and VAE in float16, transformers in bf16.
    expected = component_dtypes(entry, "cuda")
    for name, component in model.pipeline.components.items():
        if isinstance(component, torch.nn.Module):
            assert component.dtype == expected.get(name, expected["default"]), name
    run(model, width, height, frames)


@pytest.mark.parametrize(("memory_gb", "offload"), [(10_000.0, "model"), (0.001, "none")])
def test_auto_offload_follows_the_gpus_memory(data_dir, memory_gb, offload):
    entry = CatalogEntry(
        name="gpu-auto-offload", family="hunyuan", path="builtin:tiny-hunyuan", offload="auto", gpu_memory_gb=memory_gb
    )
    model = load_model(entry, data_dir)
    assert model.offload == offload
    run(model, 48, 32, 9)
    assert model.pipeline.transformer.device.type == ("cpu" if offload == "model" else "cuda")


@pytest.mark.parametrize("offload", ["model", "sequential"])
def test_cpu_offload_renders_and_keeps_weights_off_the_gpu_between_jobs(data_dir, offload):
    entry = CatalogEntry(name="gpu-offload", family="wan", path="builtin:tiny-wan", offload=offload)
    model = load_model(entry, data_dir)
    run(model, 32, 32, 9)
    # Model offload parks each component on the CPU once the next one runs; sequential never
    # keeps weights on the GPU at all.
    assert model.pipeline.transformer.device.type in ("cpu", "meta")


@pytest.mark.parametrize(("path", "family", "width", "height", "frames"), FAMILIES, ids=[f[1] for f in FAMILIES])
def test_compiled_transformer_renders_two_sizes(data_dir, path, family, width, height, frames):
    # Wan, LTX and HunyuanVideo compile their repeated block (fullgraph); CogVideoX and Mochi whole.
    entry = CatalogEntry(name=f"gpu-compile-{family}", family=family, path=path, compile=True)
    model = load_model(entry, data_dir)
    run(model, width, height, frames)
    run(model, width, height, frames)
    if entry.spec.allowed_sizes is None:
        run(model, width + 32, height, frames)


def test_wan_2_2_runs_with_its_recipe(data_dir):
    # Both experts, the second with its own guidance; the flow shift set for the size.
    entry = CatalogEntry(
        name="gpu-wan22", family="wan", path="builtin:tiny-wan22", guidance_scale_2=3.0, flow_shift=12.0
    )
    model = load_model(entry, data_dir)
    run(model, 32, 32, 9)
    assert model.pipeline.scheduler.config.shift == 12.0
    assert model.pipeline.vae.dtype == torch.float32 and model.pipeline.transformer_2.dtype == torch.bfloat16


def test_gpu_attention_backend_with_first_block_cache(data_dir):
    # Memory-efficient SDPA takes attention masks and the tiny LTX's head size of 8.
    entry = CatalogEntry(
        name="gpu-attention",
        family="ltx",
        path="builtin:tiny-ltx",
        attention_backend="_native_efficient",
        cache={"kind": "first_block", "threshold": 0.2},
    )
    run(load_model(entry, data_dir), 64, 32, 9)


def test_over_budget_models_swap_between_gpu_and_cpu_ram(data_dir):
    # Two 2.6 MB tiny Mochis and a 4 MiB budget: one on the GPU at a time, the other in RAM.
    models = ResidentModels(load_catalog(TEST_CATALOG), ["tiny-swap-a", "tiny-swap-b"], data_dir, budget_mb=4)
    parked = models.loaded["tiny-swap-a"]
    assert parked.pipeline.transformer.device.type == "cpu"
    model, seconds = models.get("tiny-swap-a")
    assert seconds > 0 and model is parked
    assert model.pipeline.transformer.device.type == "cuda"
    assert models.loaded["tiny-swap-b"].pipeline.transformer.device.type == "cpu"
    run(model, 32, 32, 7)


def test_offloaded_model_is_never_swapped_or_moved_whole(data_dir):
    # A 4 MiB budget holds one tiny Mochi; the offloaded one is outside it and must never be moved
    # with `.to()` (sequential offload raises; model offload would land whole on the GPU).
    names = ["tiny-swap-offloaded", "tiny-swap-a", "tiny-swap-b"]
    models = ResidentModels(load_catalog(TEST_CATALOG), names, data_dir, budget_mb=4)
    assert list(models.resident) == ["tiny-swap-b"]
    for name in ("tiny-swap-a", "tiny-swap-offloaded", "tiny-swap-b", "tiny-swap-offloaded"):
        model, seconds = models.get(name)
        run(model, 32, 32, 7)
    offloaded, seconds = models.get("tiny-swap-offloaded")
    assert seconds == 0.0 and "tiny-swap-offloaded" not in models.resident
    assert offloaded.pipeline.transformer.device.type in ("cpu", "meta")


def test_a_cancelled_offloaded_render_leaves_weights_off_the_gpu_and_the_cache_clean(data_dir):
    entry = CatalogEntry(
        name="gpu-offload-cancel",
        family="wan",
        path="builtin:tiny-wan",
        offload="model",
        cache={"kind": "first_block", "threshold": 0.2},
    )
    model = load_model(entry, data_dir)

    def cancel(done: int, total: int) -> None:
        raise RenderCancelled("cancelled")

    params = {
        "prompt": "a red ball moving left",
        "negative_prompt": None,
        "height": 32,
        "width": 32,
        "num_frames": 9,
        "num_inference_steps": 2,
        "guidance_scale": 2.0,
        "seed": 0,
        "fps": 8,
    }
    with pytest.raises(RenderCancelled):
        sample(model, params, cancel)
    # The interrupted call's cleanup put the transformer back on the CPU, as a finished call does.
    assert model.pipeline.transformer.device.type == "cpu"
    run(model, 48, 32, 9)
