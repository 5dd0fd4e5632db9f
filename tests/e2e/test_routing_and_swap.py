"""Routing by model (each model has its own render queue) and LRU swapping in a worker whose
models do not all fit its memory budget."""

import httpx
import openai
import pytest

from app.records import RecordStore


@pytest.fixture
def sdk(api_url) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api_url}/v1", api_key="test-key", max_retries=0)


def _worker_pid(redis, video_id: str) -> int:
    # Worker names are host.pid.suffix (workers/worker.py).
    return int(RecordStore(redis).get(video_id)["worker"].split(".")[-2])


def test_jobs_for_a_model_run_only_on_that_models_worker(sdk, redis, worker_factory):
    worker_a = worker_factory(["tiny-route-a"])
    worker_b = worker_factory(["tiny-route-b"])
    # Interleaved, so both queues hold work at once and either worker could grab the wrong job.
    created = [
        sdk.videos.create(prompt=f"a blue dog number {i}", model=model)
        for i in range(3)
        for model in ("tiny-route-a", "tiny-route-b")
    ]
    finished = [sdk.videos.poll(v.id, poll_interval_ms=100) for v in created]

    assert all(v.status == "completed" for v in finished), [v.error for v in finished]
    for video in finished:
        expected = worker_a.pid if video.model == "tiny-route-a" else worker_b.pid
        assert _worker_pid(redis, video.id) == expected, video.model


def test_a_model_without_a_live_worker_queues_with_a_warning_and_readyz_says_so(api_url, sdk):
    video = sdk.videos.create(prompt="a green bird", model="tiny-route-unserved")
    try:
        assert video.status == "queued"
        assert "no live worker serves model 'tiny-route-unserved'" in video.model_extra["warning"]
        ready = httpx.get(f"{api_url}/readyz").json()
        assert ready["models"]["tiny-route-unserved"]["live"] is False
        listed = httpx.get(f"{api_url}/v1/models/tiny-route-unserved").json()
        assert listed["live"] is False and listed["family"] == "wan"
    finally:
        sdk.videos.delete(video.id)


def test_models_over_the_budget_take_turns_and_report_the_swap_as_load_time(sdk, worker_factory, api_url):
    # Each tiny Mochi is about 2.6 MB of weights: 4 MiB holds one. Start-up loads a, then b
    # (evicting a), so b is resident and a has been dropped.
    worker_factory(["tiny-swap-a", "tiny-swap-b"], extra_env={"T2V_RESIDENT_BUDGET_MB": "4"})
    ready = httpx.get(f"{api_url}/readyz").json()["models"]
    assert ready["tiny-swap-a"]["live"] and ready["tiny-swap-b"]["live"]

    def render(model: str) -> dict:
        video = sdk.videos.create_and_poll(prompt="a red circle moving up", model=model, poll_interval_ms=100)
        assert video.status == "completed", video.error
        return video.model_extra["timings"]

    assert render("tiny-swap-b")["load"] == 0
    swapped_in = render("tiny-swap-a")
    assert swapped_in["load"] > 0
    assert render("tiny-swap-a")["load"] == 0
    assert render("tiny-swap-b")["load"] > 0
    assert set(swapped_in) >= {"queued", "expand", "load", "denoise", "decode", "encode", "step_median"}
