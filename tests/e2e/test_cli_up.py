"""`t2v up`, the console script a newcomer runs: everything on one machine, Ctrl-C stops it all."""

import signal
import subprocess
import sys
import warnings
from pathlib import Path

import httpx
from openai import OpenAI

from app.embedded_redis import free_port
from tests.conftest import TEST_CATALOG
from tests.support import ROOT, base_env, wait_until


def test_up_serves_a_video_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    env = base_env("", tmp_path / "data", TEST_CATALOG)
    env.pop("T2V_REDIS_URL")  # no Redis given: `up` starts the embedded one
    t2v = Path(sys.executable).with_name("t2v")
    up = subprocess.Popen(
        [str(t2v), "up", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        wait_until(lambda: (line := up.stdout.readline()) and (lines.append(line) or "ready" in line), timeout_s=180)
        assert any("embedded valkey" in line for line in lines)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="local", max_retries=0)
        video = client.videos.create_and_poll(prompt="from t2v up", poll_interval_ms=100)
        assert video.status == "completed"
        # The embedded Redis keeps an append-only file under the data directory.
        assert list((tmp_path / "data" / "redis").rglob("*.aof"))
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=60)
    assert code == 0
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        raise AssertionError("the API still answers after Ctrl-C")
    except httpx.ConnectError:
        pass
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path / "data")], capture_output=True, text=True).stdout
    assert leftover.strip() == "", f"processes left behind: {leftover}"
