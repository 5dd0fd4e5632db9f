"""Starting and stopping the real processes the tests talk to."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from redis import Redis


ROOT = Path(__file__).resolve().parents[1]


def wait_until(predicate: Callable[[], object], timeout_s: float = 30.0, interval_s: float = 0.05, what: str = ""):
    """Poll `predicate` until it returns something truthy (for state kept in another process)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s}s waiting for {what or predicate}")
        time.sleep(interval_s)


def _limit_memory(limit_bytes: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


class Service:
    """A child process running `python -m app.cli ...`, with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, memory_limit_bytes: int | None = None):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 (lives as long as the process)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=(lambda: _limit_memory(memory_limit_bytes)) if memory_limit_bytes else None,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_api(env: dict[str, str], port: int, log_dir: Path, host: str = "127.0.0.1") -> tuple[Service, str]:
    api = Service(["api", "--host", host, "--port", str(port)], env, log_dir / f"api-{port}.log")
    base = f"http://127.0.0.1:{port}"

    def up():
        if not api.alive():
            raise RuntimeError(f"api exited:\n{api.output()}")
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout_s=60, interval_s=0.1, what="the API to answer")
    return api, base


def start_worker(
    env: dict[str, str], redis: Redis, log_dir: Path, models: list[str], queues=(), started: list | None = None
) -> Service:
    """Start `t2v worker` and wait until it announces itself (its models are then loaded or
    recorded as failed). `started` collects the process before the wait, so a caller can stop
    it even when start-up times out."""
    args = ["worker"]
    if models:
        args += ["--models", ",".join(models)]
    if queues:
        args += ["--queues", ",".join(queues)]
    tag = "-".join([*models, *queues]) or "default"
    worker = Service(args, env, log_dir / f"worker-{tag}-{time.monotonic_ns()}.log")
    if started is not None:
        started.append(worker)

    def ready():
        if not worker.alive():
            raise RuntimeError(f"worker exited:\n{worker.output()}")
        return _announced(redis, worker.pid)

    wait_until(ready, timeout_s=120, interval_s=0.1, what=f"worker for {models or queues}")
    return worker


def _announced(redis: Redis, pid: int) -> bool:
    from app.liveness import live_workers

    return any(w.get("pid") == pid for w in live_workers(redis).values())


def base_env(redis_url: str, data_dir: Path, catalog: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("T2V_", "OPENAI_"))}
    env.update(
        T2V_REDIS_URL=redis_url,
        T2V_DATA_DIR=str(data_dir),
        T2V_CATALOG=str(catalog),
        T2V_DEFAULT_MODEL="tiny-wan",
        T2V_POLL_AFTER_MS="100",
        # Fast failure detection, so tests about dead workers take seconds.
        T2V_WORKER_HEARTBEAT_S="0.5",
        T2V_WORKER_TTL_S="3",
        T2V_SWEEP_INTERVAL_S="1",
        T2V_SWEEP_GRACE_S="3",
        PYTHONUNBUFFERED="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
    )
    env.update(extra)
    return env
