"""Without API keys the server is open, so it only binds to loopback unless told otherwise."""

import subprocess
import sys

import httpx
import pytest

from app.embedded_redis import EmbeddedRedis, free_port
from tests.support import ROOT, Service, base_env, start_api, wait_until
from tests.tenants import TEST_CATALOG, bearer, new_key, t2v


EVERYWHERE = "0.0.0.0"


@pytest.fixture
def env(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis").start()
    yield base_env(server.url, tmp_path, TEST_CATALOG)
    server.stop()


def serve(env: dict[str, str], host: str, log_dir) -> tuple[Service, str]:
    return start_api(env, free_port(), log_dir, host=host)


def test_api_beyond_loopback_without_keys_refuses_to_start(env, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "api", "--host", EVERYWHERE, "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "refusing to serve on 0.0.0.0 without API keys" in result.stderr
    assert "T2V_ALLOW_OPEN_NETWORK" in result.stderr


def test_up_beyond_loopback_without_keys_refuses_before_starting_anything(tmp_path):
    env = base_env("", tmp_path / "data", TEST_CATALOG)
    del env["T2V_REDIS_URL"]  # `t2v up` starts its own embedded Valkey
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "up", "--host", EVERYWHERE, "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "refusing to serve" in result.stderr, result.stderr
    assert "worker" not in result.stdout and "api:" not in result.stdout


def test_loopback_without_keys_runs_open_and_says_so_until_a_key_exists(env, tmp_path):
    api, base = serve(env, "127.0.0.1", tmp_path)
    try:
        assert "no API keys exist" in api.output() and "open" in api.output()
        assert httpx.get(f"{base}/v1/videos").status_code == 200
        # Whatever key an SDK sends is ignored while the server is open.
        assert httpx.get(f"{base}/v1/videos", headers=bearer("sk-anything")).status_code == 200
        key = new_key(env, "first")
        # Whether any key exists is re-read at most once a second (app/recent.py).
        wait_until(lambda: httpx.get(f"{base}/v1/videos").status_code == 401, timeout_s=3, what="keys to count")
        assert httpx.get(f"{base}/v1/videos", headers=bearer(key)).status_code == 200
        # Revoking the last key on loopback opens the server again, as at start.
        t2v(env, "keys", "revoke", key.split("_", 2)[1])
        wait_until(lambda: httpx.get(f"{base}/v1/videos").status_code == 200, timeout_s=3, what="the server to open")
    finally:
        api.stop()


def test_open_network_allowed_explicitly_starts_with_a_warning(env, tmp_path):
    api, base = serve({**env, "T2V_ALLOW_OPEN_NETWORK": "true"}, EVERYWHERE, tmp_path)
    try:
        assert "T2V_ALLOW_OPEN_NETWORK is set" in api.output()
        assert httpx.get(f"{base}/v1/videos").status_code == 200
    finally:
        api.stop()


def test_beyond_loopback_with_a_key_stays_locked_after_every_key_is_revoked(env, tmp_path):
    key = new_key(env, "ops")
    api, base = serve(env, EVERYWHERE, tmp_path)
    try:
        assert "warning" not in api.output()
        assert httpx.get(f"{base}/v1/videos").status_code == 401
        assert httpx.get(f"{base}/v1/videos", headers=bearer(key)).status_code == 200
        t2v(env, "keys", "revoke", key.split("_", 2)[1])
        # Not open now: it was started beyond loopback, so a caller still needs a key.
        assert httpx.get(f"{base}/v1/videos").status_code == 401
    finally:
        api.stop()
