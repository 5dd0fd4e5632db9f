"""`t2v up`, the console script a newcomer runs: everything on one machine, a second terminal's
`t2v keys` reaches it, and Ctrl-C (SIGINT to the whole foreground process group, as a terminal
sends it) or SIGTERM stops it all in seconds, in order, with a few plain lines."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import pytest
from openai import OpenAI
from redis import Redis

from app.embedded_redis import EmbeddedRedis, free_port
from app.records import RecordStore
from app.redis_address import API_RECORD_NAME, record_path
from tests.conftest import TEST_CATALOG
from tests.support import ROOT, base_env, wait_until


class Up:
    """`t2v up` in a session of its own, as a shell runs a foreground job in its own group."""

    def __init__(self, tmp_path: Path, **extra_env: str):
        self.port = free_port()
        self.data = tmp_path / "data"
        # Nothing points at Redis: the stack and every other command must find it by themselves.
        self.env = base_env("", self.data, TEST_CATALOG, HOME=str(tmp_path / "home"), **extra_env)
        self.env.pop("T2V_REDIS_URL")
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "up", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []

    def wait_ready(self) -> None:
        def ready():
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"t2v up exited before it was ready:\n{''.join(self.lines)}")
            self.lines.append(line)
            return line.startswith("ready")

        wait_until(ready, timeout_s=180, what="`t2v up` to say it is ready")

    def t2v(self, *args: str) -> subprocess.CompletedProcess:
        """Another terminal: same data directory, no T2V_REDIS_URL."""
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60
        )

    def stop(self, how: str) -> float:
        """Send the signal; the seconds until `t2v up` itself has exited (children are waited for)."""
        started = time.monotonic()
        if how == "SIGINT to the group":
            os.killpg(self.process.pid, signal.SIGINT)
        else:
            self.process.send_signal(signal.SIGTERM)
        rest, _ = self.process.communicate(timeout=60)
        seconds = time.monotonic() - started
        self.lines.append(rest)
        print(f"\n`t2v up` stopped {seconds:.2f} s after {how}")
        return seconds

    def output(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def assert_all_gone(self) -> None:
        assert self.process.returncode == 0, self.output()
        assert "Traceback" not in self.output(), self.output()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{self.base}/healthz", timeout=1)
        leftover = subprocess.run(["pgrep", "-f", str(self.data)], capture_output=True, text=True).stdout
        assert leftover.strip() == "", f"processes left behind: {leftover}"
        assert not record_path(self.data).exists(), "the Redis address outlived the stack"
        assert not record_path(self.data, API_RECORD_NAME).exists(), "the API address outlived the stack"


@pytest.fixture
def up(tmp_path):
    started = []

    def start(**extra_env: str) -> Up:
        stack = Up(tmp_path, **extra_env)
        started.append(stack)
        stack.wait_ready()
        return stack

    yield start
    for stack in started:
        stack.kill()


def test_up_serves_a_video_and_stops_cleanly_on_ctrl_c(up):
    stack = up()
    output = stack.output()
    assert "embedded valkey" in output and f"{stack.base}/v1" in output
    assert len(stack.lines) <= 8, output  # a line per service and its address, then quiet
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    client = OpenAI(base_url=f"{stack.base}/v1", api_key="local", max_retries=0)
    video = client.videos.create_and_poll(prompt="from t2v up", poll_interval_ms=100)
    assert video.status == "completed"
    # The embedded Redis keeps an append-only file under the data directory; logs go there too.
    assert list((stack.data / "redis").rglob("*.aof"))
    assert "rq.worker" in (stack.data / "logs" / "worker.log").read_text()
    assert "rq.worker" not in stack.output()
    # Another terminal's client finds the stack's API (on its own port) without being told.
    listed = stack.t2v("videos", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert video.id in [v["id"] for v in json.loads(listed.stdout)["data"]]

    stack.stop("SIGINT to the group")
    stack.assert_all_gone()
    assert len(stack.output().splitlines()) <= 10, stack.output()


def test_a_key_made_in_another_terminal_protects_the_running_stack_at_once(up):
    stack = up()
    assert httpx.get(f"{stack.base}/v1/videos").status_code == 200  # no key exists: open
    # A second stack on the same data directory would share the append-only file: refused.
    second = stack.t2v("up", "--port", str(free_port()))
    assert second.returncode == 1 and "already runs" in second.stderr and "Traceback" not in second.stderr

    made = stack.t2v("keys", "create", "--name", "alice")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]

    def refused_without_key():
        return httpx.get(f"{stack.base}/v1/videos").status_code == 401

    # At once, or within the API's short cache of whether keys exist.
    wait_until(refused_without_key, timeout_s=5, what="the API to require the new key")
    accepted = httpx.get(f"{stack.base}/v1/videos", headers={"Authorization": f"Bearer {key}"})
    assert accepted.status_code == 200
    assert "alice" in stack.t2v("keys", "list").stdout

    stack.stop("SIGTERM")
    stack.assert_all_gone()


def test_ctrl_c_during_a_render_hands_the_video_back_and_redis_keeps_it(up):
    stack = up(T2V_DEFAULT_MODEL="tiny-wan-slow")
    created = httpx.post(
        f"{stack.base}/v1/videos", json={"prompt": "interrupted", "num_inference_steps": 2000}, timeout=10
    ).json()
    video_id = created["id"]

    def rendering():
        video = httpx.get(f"{stack.base}/v1/videos/{video_id}", timeout=5).json()
        return video["status"] == "in_progress" and video["progress"] > 0

    wait_until(rendering, timeout_s=120, what="the render to start")

    stack.stop("SIGINT to the group")
    stack.assert_all_gone()
    assert f"handing back {video_id}" in stack.output()
    assert f"{video_id}: queued again" in stack.output()

    # Redis stopped after the worker had handed the video back, and kept it on disk.
    redis_server = EmbeddedRedis(stack.data / "redis").start()
    try:
        record = RecordStore(Redis.from_url(redis_server.url)).get(video_id)
    finally:
        redis_server.stop()
    assert record["status"] == "queued" and record["worker"] is None and record["progress"] == 0
    # Handed back, not lost: the claim is not counted against the video's attempts.
    assert record["attempts"] == 0


def _one_line_failure(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result
    assert result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_keys_without_a_reachable_redis_say_so_in_one_line(tmp_path):
    data = tmp_path / "data"
    dead = f"redis://127.0.0.1:{free_port()}/0"
    env = base_env(dead, data, TEST_CATALOG)

    line = _one_line_failure(
        subprocess.run(
            [sys.executable, "-m", "app.cli", "keys", "list"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    )
    assert dead in line and "T2V_REDIS_URL" in line and "t2v up" in line

    # A stack that died without cleaning up left its address behind.
    env.pop("T2V_REDIS_URL")
    data.mkdir()
    record_path(data).write_text(dead + "\n")
    line = _one_line_failure(
        subprocess.run(
            [sys.executable, "-m", "app.cli", "keys", "create", "--name", "x"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    )
    assert dead in line and str(record_path(data)) in line and "t2v up" in line
