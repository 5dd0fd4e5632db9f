"""Through the server: a video cancelled while sampling with a cache accelerator must not break
the next one. Before sample() reset the cache after an interrupted call, the next video of another
size failed with "The size of tensor a (18) must match the size of tensor b (12)", and so did every
later one of that size."""

import httpx
import pytest

from tests.support import start_worker, wait_until
from tests.workers.test_job_lifecycle import create, fetch, until_status


# Every cache kind the Wan family allows (Pyramid Attention Broadcast and FasterCache are refused
# for pipelines that run the conditional and unconditional passes separately).
MODELS = ["tiny-wan-cache-first-block", "tiny-wan-cache-mag", "tiny-wan-cache-taylorseer"]


@pytest.fixture(scope="module")
def cache_worker(env, redis, tmp_path_factory):
    started = []
    try:
        yield start_worker(env, redis, tmp_path_factory.mktemp("cache-worker"), MODELS, started=started)
    finally:
        for worker in started:
            worker.stop()


@pytest.mark.parametrize("model", MODELS)
def test_a_cancelled_render_does_not_break_the_next_video(api_url, cache_worker, model):
    # 90 steps: progress shows after the first, so the cancel lands a step or two later.
    running = create(api_url, prompt="a red ball", model=model, size="64x64", seconds="4", num_inference_steps=90)
    wait_until(lambda: fetch(api_url, running["id"])["progress"] > 0, what="sampling to start")
    response = httpx.post(f"{api_url}/v1/videos/{running['id']}/cancel", timeout=10)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"

    # Another size, twice: a poisoned cache failed this one and every later one.
    for prompt in ("a blue square", "a green circle"):
        following = create(api_url, prompt=prompt, model=model, size="48x32", num_inference_steps=2)
        done = until_status(api_url, following["id"], "completed", "failed")
        assert done["status"] == "completed", done["error"]
    # The cancel did land mid-render: the worker stopped well before the end.
    assert fetch(api_url, running["id"])["progress"] < 90
