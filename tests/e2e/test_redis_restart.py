"""Redis SIGKILLed with videos queued and running: nothing accepted is lost, the API recovers."""

import httpx
from redis import Redis

from app.embedded_redis import EmbeddedRedis, free_port
from tests.conftest import TEST_CATALOG
from tests.support import base_env, start_api, start_worker, wait_until


def test_redis_kill_and_restart_loses_no_video(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis").start()
    env = base_env(server.url, tmp_path / "data", TEST_CATALOG)
    api, base = start_api(env, free_port(), tmp_path)
    worker = start_worker(env, Redis.from_url(server.url), tmp_path, ["tiny-wan-slow"])
    try:
        ids = [
            httpx.post(
                f"{base}/v1/videos", json={"prompt": f"video {i}", "model": "tiny-wan-slow", "num_inference_steps": 150}
            ).json()["id"]
            for i in range(6)
        ]
        wait_until(lambda: httpx.get(f"{base}/v1/videos/{ids[0]}").json()["progress"] > 0, what="a render to start")
        assert httpx.get(f"{base}/v1/videos/{ids[-1]}").json()["status"] == "queued"

        server.kill()
        down = httpx.get(f"{base}/v1/videos/{ids[0]}", timeout=20)
        assert down.status_code == 503 and down.headers["retry-after"]
        assert down.json()["error"]["type"] == "server_error"
        refused = httpx.post(f"{base}/v1/videos", json={"prompt": "while down", "model": "tiny-wan-slow"}, timeout=20)
        assert refused.status_code == 503

        server.start()

        # The API reconnects by itself; the worker finishes what it had and takes the rest.
        def all_completed():
            videos = [httpx.get(f"{base}/v1/videos/{i}").json() for i in ids]
            assert all(v["status"] in ("queued", "in_progress", "completed") for v in videos), videos
            return all(v["status"] == "completed" for v in videos)

        wait_until(all_completed, timeout_s=180, interval_s=0.5, what="every video to complete")
        assert worker.alive()
    finally:
        worker.stop()
        api.stop()
        server.stop()
