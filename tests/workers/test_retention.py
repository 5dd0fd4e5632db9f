"""Retention: `expires_at` from the setting, files deleted by the sweep, 410 afterwards."""

import time

import httpx

from app.embedded_redis import free_port
from tests.support import start_api, wait_until


def test_expired_videos_lose_their_files_and_answer_410(env, default_worker, redis, tmp_path):
    api, base = start_api({**env, "T2V_VIDEO_TTL_S": "6"}, free_port(), tmp_path)
    try:
        video = httpx.post(f"{base}/v1/videos", json={"prompt": "short-lived"}).json()
        assert video["expires_at"] == video["created_at"] + 6
        wait_until(lambda: httpx.get(f"{base}/v1/videos/{video['id']}").json()["status"] == "completed")
        attempt = int(redis.hget(f"t2v:video:{video['id']}", "artifact_attempt"))
        content = httpx.get(f"{base}/v1/videos/{video['id']}/content")
        assert content.status_code == 200 or time.time() > video["expires_at"]

        gone = wait_until(
            lambda: (r := httpx.get(f"{base}/v1/videos/{video['id']}/content")).status_code == 410 and r,
            timeout_s=30,
            what="the sweep to expire the video",
        )
        assert gone.json()["error"]["code"] == "video_expired"
        assert not list((default_worker_data(env) / "videos" / video["id"]).glob(f"{attempt}/*"))
        # The record stays, so the id still resolves and says what happened.
        assert httpx.get(f"{base}/v1/videos/{video['id']}").json()["status"] == "completed"
    finally:
        api.stop()


def test_an_expired_videos_record_is_forgotten_after_its_own_ttl(env, default_worker, redis, tmp_path):
    settings = {"T2V_VIDEO_TTL_S": "2", "T2V_EXPIRED_RECORD_TTL_S": "3"}
    api, base = start_api({**env, **settings}, free_port(), tmp_path)
    try:
        video = httpx.post(f"{base}/v1/videos", json={"prompt": "forgotten"}).json()
        key = f"t2v:video:{video['id']}"
        wait_until(lambda: redis.hget(key, "expired") is not None, timeout_s=30, what="the sweep to expire it")
        # Expired, not yet forgotten: the id still answers with what happened.
        assert httpx.get(f"{base}/v1/videos/{video['id']}").status_code == 200
        wait_until(
            lambda: httpx.get(f"{base}/v1/videos/{video['id']}").status_code == 404,
            timeout_s=30,
            what="the sweep to forget the record",
        )
        assert time.time() >= video["created_at"] + 2 + 3
        listed = httpx.get(f"{base}/v1/videos", params={"limit": 100}).json()["data"]
        assert video["id"] not in [v["id"] for v in listed]
        # Nothing of it stays in Redis: what RQ keeps of the finished job expires by itself.
        left = list(redis.scan_iter(match=f"*{video['id']}*"))
        assert all(k.startswith(b"rq:") and redis.ttl(k) > 0 for k in left), left
        assert redis.zscore("t2v:videos:forget", video["id"]) is None
    finally:
        api.stop()


def test_zero_ttl_keeps_videos_forever(env, tmp_path):
    api, base = start_api({**env, "T2V_VIDEO_TTL_S": "0"}, free_port(), tmp_path)
    try:
        video = httpx.post(f"{base}/v1/videos", json={"prompt": "kept", "model": "tiny-wan-b"}).json()
        assert video["expires_at"] is None
        httpx.delete(f"{base}/v1/videos/{video['id']}")
    finally:
        api.stop()


def default_worker_data(env):
    from pathlib import Path

    return Path(env["T2V_DATA_DIR"])
