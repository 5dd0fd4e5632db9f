"""Batched sampling: each video of a batch is the video it would have been alone."""

import httpx
import numpy as np
import pytest

from models.catalog import load_catalog
from models.loader import load_model
from tests.conftest import TEST_CATALOG
from workers.batching import BatchRamp, batch_key, sample_batch
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


def test_batches_grow_while_the_queue_stays_deep():
    ramp = BatchRamp()
    sizes, left = [], 16
    while left:
        sizes.append(min(ramp.limit(8), left))
        left -= sizes[-1]
        ramp.claimed(more_waiting=left > 0, most=8)
    assert sizes == [1, 2, 4, 8, 1]
    # The queue ran dry: the next video finds the worker as an idle one would.
    assert ramp.limit(8) == 1


def test_a_worker_renders_queued_videos_of_one_shape_together(api_url, redis, worker_factory):
    from tests.workers.test_job_lifecycle import create, until_status

    same = [create(api_url, prompt=f"video {i}", model="tiny-wan-batch", seed=10 + i) for i in range(6)]
    other = create(api_url, prompt="another size", model="tiny-wan-batch", size="64x64", seed=20)
    cancelled = create(api_url, prompt="never mind", model="tiny-wan-batch", seed=30)
    assert httpx.post(f"{api_url}/v1/videos/{cancelled['id']}/cancel", timeout=10).status_code == 200
    worker_factory(["tiny-wan-batch"])
    done = [until_status(api_url, v["id"], "completed", "failed", timeout_s=120) for v in [*same, other]]
    assert [v["status"] for v in done] == ["completed"] * 7, [v["error"] for v in done]
    # The ramp: the first video alone, then two, then the model's max_batch of 3; the other
    # size alone (nothing queued matches it).
    assert [v["timings"].get("batch") for v in done] == [None, 2, 2, 3, 3, 3, None]
    assert httpx.get(f"{api_url}/v1/videos/{cancelled['id']}", timeout=10).json()["status"] == "cancelled"
    for video in done:
        assert httpx.get(f"{api_url}/v1/videos/{video['id']}/content", timeout=10).status_code == 200


def test_a_batch_size_below_one_stops_the_worker_at_start_up(env, tmp_path):
    import subprocess
    import sys

    from tests.support import ROOT

    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "worker", "--models", "tiny-wan-batch"],
        cwd=ROOT,
        env={**env, "T2V_MAX_BATCH": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "max_batch" in result.stderr and "greater than or equal to 1" in result.stderr
