"""A render that stops early (cancel, timeout, out-of-memory, any failure) skips the cleanup a
pipeline does at the end of a call. The next video must still come out exactly as it would from a
freshly loaded model, whatever cache accelerator the entry uses: in process here, and through the
server in tests/e2e/test_cancel_with_cache.py."""

import numpy as np
import pytest
from rq.timeouts import JobTimeoutException

from models.catalog import CatalogEntry
from models.loader import load_model
from workers.runtime import RenderCancelled, sample


FIRST_BLOCK = {"kind": "first_block", "threshold": 0.2}
MAG = {"kind": "mag", "threshold": 0.1, "options": {"mag_ratios": [1.0] * 4}}
TAYLORSEER = {"kind": "taylorseer", "options": {"cache_interval": 2, "disable_cache_before_step": 1}}

PYRAMID = {"kind": "pyramid_attention", "options": {"spatial_attention_timestep_skip_range": [0, 1000]}}
FASTER = {"kind": "faster"}

# (pipeline, family, cache, what stops the render, after how many of its 4 steps)
CASES = [
    ("builtin:tiny-wan", "wan", FIRST_BLOCK, RenderCancelled("cancelled"), 2),
    ("builtin:tiny-wan", "wan", MAG, JobTimeoutException("timeout"), 2),
    ("builtin:tiny-wan", "wan", TAYLORSEER, MemoryError("can't allocate memory"), 2),
    # Wan 2.2 stopped in its low-noise expert, with both experts' caches filled.
    ("builtin:tiny-wan22", "wan", FIRST_BLOCK, RenderCancelled("cancelled"), 4),
    ("builtin:tiny-wan22", "wan", TAYLORSEER, RuntimeError("any failure"), 4),
    # The kinds only the other families allow.
    ("builtin:tiny-ltx", "ltx", PYRAMID, RenderCancelled("cancelled"), 2),
    ("builtin:tiny-hunyuan", "hunyuan", FASTER, RenderCancelled("cancelled"), 2),
    ("builtin:tiny-mochi", "mochi", FASTER, RenderCancelled("cancelled"), 2),
]
# (first size, next size) per family: sizes its tiny pipeline takes.
SIZES = {
    "wan": ((32, 32), (48, 32)),
    "ltx": ((64, 32), (96, 32)),
    "hunyuan": ((48, 32), (64, 32)),
    "mochi": ((48, 32), (64, 32)),
}
FRAMES = {"mochi": 7}


def params(family: str, width: int, height: int) -> dict:
    return {
        "prompt": "a red ball moving left",
        "negative_prompt": None,
        "height": height,
        "width": width,
        "num_frames": FRAMES.get(family, 9),
        "num_inference_steps": 4,
        "guidance_scale": 2.0,
        "seed": 0,
        "fps": 8,
    }


@pytest.mark.parametrize(
    ("path", "family", "cache", "stop", "at_step"),
    CASES,
    ids=[f"{p.removeprefix('builtin:tiny-')}-{c['kind']}-{type(s).__name__}" for p, _, c, s, _ in CASES],
)
def test_a_render_stopped_early_leaves_no_cache_state_behind(tmp_path_factory, path, family, cache, stop, at_step):
    data_dir = tmp_path_factory.getbasetemp() / "interrupted"
    entry = CatalogEntry(name="probe", family=family, path=path, cache=cache, limits={"default_steps": 4})
    first, following = SIZES[family]
    model = load_model(entry, data_dir)

    def stop_early(done: int, total: int) -> None:
        if done == at_step:
            raise stop

    with pytest.raises(type(stop)):
        sample(model, params(family, *first), stop_early)
    # Another size: a stale First Block Cache fails here with "The size of tensor a (18) must match
    # the size of tensor b (12)"; stale MagCache or TaylorSeer state changes the video instead.
    after = sample(model, params(family, *following), lambda done, total: None).frames
    fresh = sample(load_model(entry, data_dir), params(family, *following), lambda done, total: None).frames
    np.testing.assert_array_equal(after, fresh)
