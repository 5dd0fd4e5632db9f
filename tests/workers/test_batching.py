"""Batched sampling: each video of a batch is the video it would have been alone."""

import numpy as np
import pytest

from models.catalog import load_catalog
from models.loader import load_model
from tests.conftest import TEST_CATALOG
from workers.batching import batch_key, sample_batch
from workers.runtime import sample


def params(prompt: str, seed: int, negative: str | None = "blurry", **overrides) -> dict:
    return {
        "prompt": prompt,
        "negative_prompt": negative,
        "height": 32,
        "width": 32,
        "num_frames": 5,
        "num_inference_steps": 3,
        "guidance_scale": 3.0,  # both guidance passes run, so negative prompts matter
        "seed": seed,
        "fps": 8,
        **overrides,
    }


@pytest.fixture(scope="module")
def tiny_wan(tmp_path_factory):
    return load_model(load_catalog(TEST_CATALOG)["tiny-wan"], tmp_path_factory.mktemp("batching"))


def test_each_video_of_a_batch_is_the_video_rendered_alone(tiny_wan):
    batch = [params("a red circle", 1), params("a blue square", 2, negative="dark"), params("a red circle", 3)]
    steps_seen = []
    together = sample_batch(tiny_wan, batch, lambda done, total: steps_seen.append((done, total)))
    assert steps_seen == [(1, 3), (2, 3), (3, 3)]
    alone = [sample(tiny_wan, p, lambda done, total: None) for p in batch]
    for one, other in zip(together, alone, strict=True):
        assert one.frames.shape == other.frames.shape == (5, 32, 32, 3)
        np.testing.assert_allclose(one.frames, other.frames, atol=1e-4)
        assert one.latents.shape == other.latents.shape
    # Different seeds and prompts really do make different videos (the comparison above can fail).
    assert np.abs(together[0].frames - together[2].frames).max() > 1e-3


def test_only_videos_that_share_the_call_can_be_batched(tiny_wan):
    assert batch_key(tiny_wan, params("a", 1)) == batch_key(tiny_wan, params("b", 2, negative="other"))
    assert batch_key(tiny_wan, params("a", 1)) != batch_key(tiny_wan, params("a", 1, width=48))
    # No negative prompt at all and the family's default are different calls.
    assert batch_key(tiny_wan, params("a", 1, negative="")) != batch_key(tiny_wan, params("a", 1))
    with pytest.raises(ValueError, match="must share"):
        sample_batch(tiny_wan, [params("a", 1), params("b", 2, num_inference_steps=4)], lambda d, t: None)
