"""Cancellation, dead workers, long jobs and failing jobs, with real worker processes."""

import json

import httpx
from rq.job import Job
from rq.serializers import JSONSerializer

from app.liveness import live_workers
from app.queueing import render_job_id
from tests.support import wait_until


def create(api_url: str, **fields) -> dict:
    response = httpx.post(f"{api_url}/v1/videos", json=fields, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def fetch(api_url: str, video_id: str) -> dict:
    return httpx.get(f"{api_url}/v1/videos/{video_id}", timeout=10).json()


def record(redis, video_id: str) -> dict:
    return {k.decode(): json.loads(v) for k, v in redis.hgetall(f"t2v:video:{video_id}").items()}


def until_status(api_url, video_id, *statuses, timeout_s=60):
    return wait_until(
        lambda: (v := fetch(api_url, video_id))["status"] in statuses and v,
        timeout_s=timeout_s,
        what=f"{video_id} to reach {statuses}",
    )


def test_cancel_running_video_stops_it_and_worker_takes_next(api_url, redis, worker_factory):
    worker_factory(["tiny-wan-slow"])
    video = create(api_url, prompt="a slow red circle", model="tiny-wan-slow", num_inference_steps=2000)
    wait_until(lambda: fetch(api_url, video["id"])["progress"] > 0, what="sampling to start")

    response = httpx.post(f"{api_url}/v1/videos/{video['id']}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    # The worker notices at its next step: the progress freezes well before the end.
    wait_until(lambda: record(redis, video["id"]).get("worker") and not _is_busy(redis), what="worker to go idle")
    cancelled = fetch(api_url, video["id"])
    assert cancelled["status"] == "cancelled" and cancelled["progress"] < 90
    assert httpx.get(f"{api_url}/v1/videos/{video['id']}/content").status_code == 409

    following = create(api_url, prompt="the next one", model="tiny-wan-slow", num_inference_steps=2)
    assert until_status(api_url, following["id"], "completed", "failed")["status"] == "completed"
    # Terminal states never change again.
    assert httpx.post(f"{api_url}/v1/videos/{video['id']}/cancel").status_code == 409
    assert fetch(api_url, video["id"])["status"] == "cancelled"


def _is_busy(redis) -> bool:
    return any(record(redis, vid).get("status") == "in_progress" for vid in _active(redis))


def _active(redis) -> list[str]:
    return [v.decode() for v in redis.smembers("t2v:videos:active")]


def test_cancel_queued_video_never_runs(api_url, redis, worker_factory):
    video = create(api_url, prompt="waits for a worker", model="tiny-wan-b")
    assert video["warning"] and "no live worker" in video["warning"]
    assert httpx.post(f"{api_url}/v1/videos/{video['id']}/cancel").json()["status"] == "cancelled"

    worker_factory(["tiny-wan-b"])
    after = create(api_url, prompt="runs", model="tiny-wan-b")
    assert until_status(api_url, after["id"], "completed")["status"] == "completed"
    stored = record(redis, video["id"])
    assert stored["status"] == "cancelled" and stored["attempts"] == 0 and stored["worker"] is None


def _worker_pid(redis, name: str) -> int:
    return live_workers(redis)[name]["pid"]


def test_killed_worker_video_finishes_on_another_worker(api_url, redis, worker_factory):
    first = worker_factory(["tiny-wan-kill"])
    video = create(api_url, prompt="survives a crash", model="tiny-wan-kill", num_inference_steps=600)
    wait_until(lambda: fetch(api_url, video["id"])["progress"] > 0, what="sampling to start")
    owner = record(redis, video["id"])["worker"]
    assert _worker_pid(redis, owner) == first.pid
    first.kill()

    second = worker_factory(["tiny-wan-kill"])
    done = until_status(api_url, video["id"], "completed", "failed", timeout_s=120)
    assert done["status"] == "completed", done["error"]
    stored = record(redis, video["id"])
    assert stored["attempts"] == 2 and stored["worker"] != owner
    assert second.alive()
    assert httpx.get(f"{api_url}/v1/videos/{video['id']}/content").status_code == 200


def test_video_whose_workers_keep_dying_fails_cleanly(api_url, redis, worker_factory):
    # Another worker keeps the sweep running while the render's workers die.
    worker_factory(["tiny-wan-c"])
    video = create(api_url, prompt="crashes every time", model="tiny-wan-kill", num_inference_steps=2000)
    for attempt in (1, 2):  # the default T2V_MAX_RENDER_ATTEMPTS is 2
        victim = worker_factory(["tiny-wan-kill"])
        wait_until(
            lambda attempt=attempt: (
                record(redis, video["id"]).get("attempts") == attempt and fetch(api_url, video["id"])["progress"] > 0
            ),
            what=f"attempt {attempt} to be sampling",
        )
        victim.kill()
    failed = until_status(api_url, video["id"], "failed", "completed", timeout_s=60)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "worker_lost"
    assert "2 times" in failed["error"]["message"]


def test_job_longer_than_worker_ttl_finishes_exactly_once(api_url, redis, worker_factory):
    short = {
        "T2V_RQ_WORKER_TTL_S": "2",
        "T2V_RQ_JOB_MONITORING_INTERVAL_S": "1",
        "T2V_RQ_HEARTBEAT_GRACE_S": "1",
        "T2V_RQ_MAINTENANCE_INTERVAL_S": "1",
    }
    worker_factory(["tiny-wan-ttl"], extra_env=short)
    # A second worker on the same queue would take the job if RQ declared it abandoned.
    worker_factory(["tiny-wan-ttl"], extra_env=short)
    video = create(api_url, prompt="a long one", model="tiny-wan-ttl", num_inference_steps=2000)
    started = wait_until(lambda: fetch(api_url, video["id"])["progress"] > 0, what="sampling")
    assert started
    done = until_status(api_url, video["id"], "completed", "failed", timeout_s=180)
    assert done["status"] == "completed", done["error"]
    assert done["timings"]["denoise"] > 3, "the job must outlive the 2 s worker TTL"
    stored = record(redis, video["id"])
    assert stored["attempts"] == 1 and stored["enqueues"] == 0
    job = Job.fetch(render_job_id(video["id"], 0), connection=redis, serializer=JSONSerializer)
    # The record completes inside the job; RQ books the job a moment later.
    final = wait_until(lambda: (s := job.get_status()) != "started" and s, what="RQ to finish the job")
    assert final == "finished"


def test_bad_model_path_fails_video_and_worker_keeps_serving(api_url, redis, worker_factory):
    worker = worker_factory(["tiny-wan-c", "tiny-wan-broken"])
    ready = httpx.get(f"{api_url}/readyz").json()
    assert ready["models"]["tiny-wan-broken"]["live"] is False
    assert "cannot load pipeline" in ready["models"]["tiny-wan-broken"]["error"]

    broken = create(api_url, prompt="never loads", model="tiny-wan-broken")
    failed = until_status(api_url, broken["id"], "failed", "completed")
    assert failed["error"]["code"] == "model_load_failed"
    assert "/nonexistent/pipeline/folder" in failed["error"]["message"]

    fine = create(api_url, prompt="still works", model="tiny-wan-c")
    assert until_status(api_url, fine["id"], "completed", "failed")["status"] == "completed"
    assert worker.alive()


def test_worker_with_only_unloadable_models_exits_with_reason(env, redis, tmp_path):
    from tests.support import Service

    worker = Service(["worker", "--models", "tiny-wan-broken"], env, tmp_path / "broken.log")
    worker.process.wait(timeout=120)
    assert worker.process.returncode != 0
    assert "cannot load pipeline from '/nonexistent/pipeline/folder'" in worker.output()


def test_ffmpeg_failure_fails_video_with_code_and_worker_survives(api_url, redis, worker_factory, tmp_path):
    broken_ffmpeg = tmp_path / "ffmpeg"
    broken_ffmpeg.write_text("#!/bin/sh\necho 'ffmpeg: simulated crash' >&2\nexit 1\n")
    broken_ffmpeg.chmod(0o755)
    worker = worker_factory(["tiny-wan-c"], extra_env={"IMAGEIO_FFMPEG_EXE": str(broken_ffmpeg)})
    first = create(api_url, prompt="cannot encode", model="tiny-wan-c")
    failed = until_status(api_url, first["id"], "failed", "completed")
    assert failed["error"]["code"] == "encode_failed"
    second = create(api_url, prompt="also cannot encode", model="tiny-wan-c")
    assert until_status(api_url, second["id"], "failed", "completed")["error"]["code"] == "encode_failed"
    assert worker.alive()


def test_out_of_memory_fails_the_video_with_its_code_and_worker_survives(api_url, redis, env, tmp_path):
    from tests.support import Service, _announced

    # Enough address space to load and render small videos, far too little for a 512x512 render of
    # 97 frames (it needs over 2 GB; 33 frames fit in 1.5 GB since decoding goes through oneDNN).
    worker = Service(
        ["worker", "--models", "tiny-wan-oom"], env, tmp_path / "oom.log", memory_limit_bytes=1_500 * 2**20
    )
    try:
        wait_until(lambda: _announced(redis, worker.pid), timeout_s=120, what="the capped worker")
        huge = create(api_url, prompt="too big", model="tiny-wan-oom", size="512x512", seconds="12")
        failed = until_status(api_url, huge["id"], "failed", "completed", timeout_s=120)
        assert failed["error"]["code"] == "out_of_memory", failed["error"]
        assert "512x512" in failed["error"]["message"]
        small = create(api_url, prompt="fits", model="tiny-wan-oom")
        assert until_status(api_url, small["id"], "completed", "failed")["status"] == "completed"
        assert worker.alive()
    finally:
        worker.stop()
