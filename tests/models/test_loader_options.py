"""Catalog speed and memory options: checked before weights load, applied to real pipelines, and a
bad one stops the worker at start-up with a message that says why."""

import numpy as np
import pytest

from models.accelerators import MASKLESS_ATTENTION_BACKENDS, transformers_of
from models.catalog import CatalogEntry
from models.loader import ModelLoadError, check_options, load_model
from tests.conftest import TEST_CATALOG
from tests.support import Service, base_env
from workers.runtime import sample


def entry(family: str = "wan", **options) -> CatalogEntry:
    return CatalogEntry(name="probe", family=family, path="builtin:tiny-wan", **options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"offload": "model"}, "offload='model' needs a CUDA device"),
        ({"offload": "sequential"}, "needs a CUDA device"),
        ({"compile": True}, "compile=true is only supported on CUDA"),
        ({"attention_backend": "flashy"}, "'flashy' is not a diffusers attention backend; known: "),
        ({"attention_backend": "flash"}, "'flash' needs a CUDA device; on CPU use one of"),
        ({"cache": {"kind": "taylorseer", "threshold": 0.1}}, "cache 'taylorseer' has no threshold"),
        ({"cache": {"kind": "first_block", "threshold": -1}}, "threshold must be positive"),
        (
            {"family": "mochi", "cache": {"kind": "faster", "options": {"skip_everything": True}}},
            "has no option 'skip_everything'",
        ),
        ({"cache": {"kind": "mag"}}, "needs cache.options.mag_ratios"),
        ({"family": "ltx", "cache": {"kind": "faster"}}, "cache 'faster' does not work with LTXPipeline"),
        # Wan runs CFG as two calls per step; these two caches would share one state between them.
        ({"cache": {"kind": "faster"}}, "cache 'faster' keeps one state for WanPipeline's separate"),
        ({"cache": {"kind": "pyramid_attention"}}, "which weakens guidance; use first_block, mag or taylorseer"),
        # Masks: LTX and HunyuanVideo pass the prompt's padding mask, which these kernels refuse at
        # the first step ("`attn_mask` is not supported for flash-attn 2").
        ({"family": "ltx", "attention_backend": "flash"}, "'flash' takes no attention mask, and LTXPipeline"),
        ({"family": "hunyuan", "attention_backend": "_flash_3"}, "HunyuanVideoPipeline passes one"),
        ({"family": "hunyuan", "attention_backend": "sage"}, "'sage' takes no attention mask"),
        # CogVideoX and Mochi call torch's SDPA directly: the setting would silently do nothing.
        ({"family": "cogvideox", "attention_backend": "native"}, "has no effect on CogVideoXPipeline"),
        ({"family": "mochi", "attention_backend": "flash"}, "has no effect on MochiPipeline"),
    ],
)
def test_bad_option_is_refused_before_any_weights_load(options, message):
    with pytest.raises(ModelLoadError, match="model 'probe'") as raised:
        check_options(entry(**options), "cpu")
    assert message in str(raised.value)


def test_cuda_only_options_pass_the_check_on_cuda():
    # The same options are fine where they can work: the check is about the device, not the option.
    check_options(entry(offload="model", compile=True, attention_backend="flash"), "cuda")
    # Padding masks are fine for the varlen kernels and cuDNN.
    for backend in ("flash_varlen", "sage_varlen", "_native_cudnn"):
        check_options(entry("hunyuan", attention_backend=backend), "cuda")


def test_maskless_backends_are_the_ones_diffusers_refuses_masks_for():
    # The table follows the installed diffusers: each backend whose kernel raises on a mask.
    import inspect
    import re

    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    refusing = {
        backend.value
        for backend, function in _AttentionBackendRegistry._backends.items()
        if re.search(r"`attn_mask` is not supported", inspect.getsource(function))
    }
    assert refusing == MASKLESS_ATTENTION_BACKENDS


def test_unknown_cache_kind_is_a_catalog_error():
    with pytest.raises(ValueError, match="kind"):
        entry(cache={"kind": "teacache"})


# Every cache accelerator on a pipeline that batches cond/uncond (LTX) and every one that keeps
# state per pass on one that runs them as separate passes (Wan); First Block Cache on every family.
ACCELERATED = [
    *[
        ("builtin:tiny-wan", "wan", "32x32", 9, cache)
        for cache in (
            {"kind": "first_block", "threshold": 0.2},
            {"kind": "mag", "threshold": 0.1, "options": {"mag_ratios": [1.0] * 4}},
            {"kind": "taylorseer", "options": {"cache_interval": 2, "disable_cache_before_step": 1}},
        )
    ],
    *[
        ("builtin:tiny-ltx", "ltx", "64x32", 9, cache)
        for cache in (
            {"kind": "mag", "threshold": 0.1, "options": {"mag_ratios": [1.0] * 4}},
            {"kind": "taylorseer", "options": {"cache_interval": 2, "disable_cache_before_step": 1}},
            {"kind": "pyramid_attention", "options": {"spatial_attention_timestep_skip_range": [0, 1000]}},
        )
    ],
    ("builtin:tiny-ltx", "ltx", "64x32", 9, {"kind": "first_block", "threshold": 0.2}),
    # Wan 2.2's two experts each get their own cache.
    ("builtin:tiny-wan22", "wan", "32x32", 9, {"kind": "taylorseer", "options": {"cache_interval": 2}}),
    *[
        (path, family, size, frames, cache)
        for path, family, size, frames in (
            ("builtin:tiny-cogvideox", "cogvideox", "48x32", 9),
            ("builtin:tiny-hunyuan", "hunyuan", "48x32", 9),
            ("builtin:tiny-mochi", "mochi", "48x32", 7),
        )
        for cache in ({"kind": "first_block", "threshold": 0.2}, {"kind": "faster"})
    ],
]


@pytest.mark.parametrize(
    ("path", "family", "size", "frames", "cache"),
    ACCELERATED,
    ids=[f"{a[0].removeprefix('builtin:tiny-')}-{a[4]['kind']}" for a in ACCELERATED],
)
def test_cache_accelerator_runs_on_the_family(tmp_path_factory, path, family, size, frames, cache):
    data_dir = tmp_path_factory.getbasetemp() / "loader-options"
    model_entry = CatalogEntry(
        name="probe",
        family=family,
        path=path,
        cache=cache,
        # The dispatcher's backend where the family's attention goes through it.
        attention_backend=None if family in ("cogvideox", "mochi") else "native",
        vae_tiling=True,
        # MagCache indexes its ratios by step: the default steps must be the steps run.
        limits={"default_steps": 4},
    )
    model = load_model(model_entry, data_dir)
    assert all(transformer.is_cache_enabled for transformer in transformers_of(model.pipeline))
    width, height = map(int, size.split("x"))
    steps_seen = []
    result = sample(
        model,
        {
            "prompt": "a red ball moving left",
            "negative_prompt": None,
            "height": height,
            "width": width,
            "num_frames": frames,
            "num_inference_steps": 4,
            "guidance_scale": 2.0,
            "seed": 0,
            "fps": 8,
        },
        lambda done, total: steps_seen.append(done),
    )
    assert steps_seen == [1, 2, 3, 4]
    assert result.frames.shape == (frames, height, width, 3)
    assert np.isfinite(result.frames).all()


def test_worker_with_a_bad_option_exits_at_start_up_and_says_why(redis_server, data_dir, tmp_path):
    env = base_env(redis_server.url, data_dir, TEST_CATALOG)
    expected = {
        "tiny-bad-cache": "model 'tiny-bad-cache': cache 'taylorseer' has no threshold",
        "tiny-bad-offload": "model 'tiny-bad-offload': offload='model' needs a CUDA device",
        "tiny-bad-attention": "model 'tiny-bad-attention': attention_backend 'flash' takes no attention mask",
    }
    # Started together: each start-up pays for importing torch and diffusers.
    workers = {m: Service(["worker", "--models", m], env, tmp_path / f"{m}.log") for m in expected}
    try:
        returncodes = {m: w.process.wait(timeout=120) for m, w in workers.items()}
    finally:
        for worker in workers.values():
            worker.stop()
    for model, message in expected.items():
        assert returncodes[model] != 0
        assert message in workers[model].output(), workers[model].output()[-2000:]


def test_an_image_to_video_checkpoint_loads_only_as_one(tmp_path):
    as_text = CatalogEntry(name="probe", family="wan", path="builtin:tiny-wan-i2v")
    with pytest.raises(ModelLoadError, match="holds a WanImageToVideoPipeline, an image-to-video checkpoint"):
        load_model(as_text, tmp_path)
    loaded = load_model(
        CatalogEntry(name="probe", family="wan", path="builtin:tiny-wan-i2v", image_to_video=True), tmp_path
    )
    assert type(loaded.pipeline).__name__ == "WanImageToVideoPipeline"
    assert loaded.entry.spec.capabilities == ("image",)
    # And the other way round: a text-to-video checkpoint is no image-to-video entry.
    with pytest.raises(ModelLoadError, match="holds a WanPipeline, but the entry needs WanImageToVideoPipeline"):
        load_model(CatalogEntry(name="probe", family="wan", path="builtin:tiny-wan", image_to_video=True), tmp_path)
    with pytest.raises(ValueError, match="family 'mochi' has no image-to-video pipeline"):
        CatalogEntry(name="probe", family="mochi", path="x", image_to_video=True)
