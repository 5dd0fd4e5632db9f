"""The whole stack on one machine (`t2v up`, `t2v demo`): Redis, workers and the API as children.

The children run in sessions of their own, so a terminal's Ctrl-C (SIGINT to the foreground
process group) reaches only this process, which then stops them in order: workers and the API
first (a worker hands an unfinished render back to the queue), Redis last, so everything they
write on the way out is kept, and Redis syncs its append-only file as it exits.

Their output goes to `<data dir>/logs/` (`-v` shows it instead); the terminal gets a few lines.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from app import redis_address
from app.child_process import die_with_parent
from app.settings import get_settings


# How long a stopping child may take before it is killed. A worker stops at the next denoising
# step (or after the decode and encode of a render past its last step); the API at once.
WORKER_STOP_S = 20.0
API_STOP_S = 5.0


class StackFailed(Exception):
    """A child could not start; the message says which and where its log is."""


class Child:
    def __init__(self, name: str, args: list[str], env: dict, log_path: Path | None, stop_s: float):
        self.name, self.log_path, self.stop_s = name, log_path, stop_s
        log = open(log_path, "ab") if log_path else None  # noqa: SIM115 (the child holds it)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT if log else None,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        if log:
            log.close()

    def running(self) -> bool:
        return self.process.poll() is None

    def exit_note(self) -> str:
        """Why the child is gone, with the end of its log."""
        note = f"{self.name} exited with status {self.process.returncode}"
        if not self.log_path:
            return note
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
        return "\n".join([f"{note}; the end of {self.log_path}:", *(f"  | {line}" for line in tail)])


class Stack:
    """Embedded Redis (unless T2V_REDIS_URL is set), one worker for the default model, an expand
    worker when an LLM is configured, a notify worker when webhooks are, the API."""

    def __init__(self, host: str, port: int, data_dir: Path, verbose: bool = False, say=print):
        self.host, self.port, self.data_dir = host, port, Path(data_dir).resolve()
        # Where a client on this machine reaches the API (a wildcard bind answers on loopback).
        loopback = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        self.api_url = f"http://[{loopback}]:{port}" if ":" in loopback else f"http://{loopback}:{port}"
        self.verbose, self.say = verbose, say
        self.logs = self.data_dir / "logs"
        self.redis = None
        self.redis_url = ""
        self.children: list[Child] = []
        self.started = time.monotonic()

    def start(self) -> str:
        from app.embedded_redis import EmbeddedRedis
        from app.expansion.plan import llm_configured

        settings = get_settings()
        self.logs.mkdir(parents=True, exist_ok=True)
        self.say(f"starting (full logs in {self.logs})" if not self.verbose else "starting")
        env = dict(os.environ, T2V_DATA_DIR=str(self.data_dir))
        if env.get("T2V_REDIS_URL"):
            self.redis_url = env["T2V_REDIS_URL"]
            self.say(f"  redis    {self.redis_url} (T2V_REDIS_URL)")
        else:
            self._refuse_second_stack()
            self.redis = EmbeddedRedis(self.data_dir / "redis", own_session=True).start()
            self.redis_url = env["T2V_REDIS_URL"] = self.redis.url
            redis_address.record(self.data_dir, self.redis.url)
            self.say(f"  redis    {self.redis.url} (embedded valkey, append-only file in {self.redis.data_dir})")
        keys_note = self._refuse_open_network()
        self._spawn("worker", ["worker"], env, WORKER_STOP_S)
        if llm_configured(settings):
            # Prompt expansion waits on the LLM in its own CPU worker, never in the render worker.
            self._spawn("expand worker", ["worker", "--queues", "expand"], env, WORKER_STOP_S)
        if settings.webhook_secret:
            # Webhook deliveries (and their scheduled retries) run in their own CPU worker.
            self._spawn("notify worker", ["worker", "--queues", "notify"], env, WORKER_STOP_S)
        self._spawn("api", ["api", "--host", self.host, "--port", str(self.port)], env, API_STOP_S)
        base = f"http://{self.host}:{self.port}"
        self._wait(lambda: _answers(f"{base}/healthz"), 60, "the API to answer")
        redis_address.record(self.data_dir, self.api_url, redis_address.API_RECORD_NAME)
        self.say(f"  api      {base}/v1 (docs: {base}/docs)")
        if keys_note:
            self.say(f"  keys     {keys_note}")
        return base

    def _spawn(self, name: str, args: list[str], env: dict, stop_s: float) -> None:
        log = None if self.verbose else self.logs / f"{name.replace(' ', '-')}.log"
        if self.verbose and args[0] == "worker":
            args = [*args, "-v"]
        self.children.append(Child(name, args, env, log, stop_s))

    def _refuse_second_stack(self) -> None:
        # Two servers on one append-only file would corrupt it.
        url = redis_address.recorded(self.data_dir)
        if url and _pings(url):
            raise StackFailed(
                f"a stack already runs with the data directory {self.data_dir} (Redis at {url}); "
                "stop it first, or pass another --data-dir"
            )

    def _refuse_open_network(self) -> str | None:
        """Before anything else starts; what to tell the user about keys when the API is open."""
        from app.auth import OpenNetworkRefused, check_exposure

        try:
            warning = check_exposure(self.host, Redis.from_url(self.redis_url), get_settings().allow_open_network)
        except OpenNetworkRefused as exc:
            raise StackFailed(str(exc)) from None
        if warning is None:
            return None
        if self.host in ("127.0.0.1", "localhost", "::1"):
            return "none yet, so the API is open to anyone on this machine (`t2v keys create --name NAME`)"
        return warning.removeprefix("warning: ")

    def _wait(self, ready, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            for child in self.children:
                if not child.running():
                    raise StackFailed(child.exit_note())
            if time.monotonic() > deadline:
                raise StackFailed(f"timed out after {timeout_s:.0f} s waiting for {what}")
            time.sleep(0.2)

    def wait_for_worker(self, timeout_s: float = 300) -> None:
        from app.liveness import live_workers

        worker = self.children[0]
        redis = Redis.from_url(self.redis_url, socket_timeout=5)

        def announced():
            try:
                return next((w for w in live_workers(redis).values() if w.get("pid") == worker.process.pid), None)
            except RedisError:
                return None

        self._wait(announced, timeout_s, "the worker to load its models")
        description = announced()
        models = ", ".join(description.get("models", [])) or "none"
        failed = description.get("failed_models") or {}
        self.say(f"  worker   serves {models}" + (f" (failed to load: {', '.join(failed)})" if failed else ""))

    def watch(self) -> None:
        """Quiet until a child exits by itself (then say so) or the user interrupts."""
        while True:
            for child in self.children:
                if not child.running():
                    self.say(child.exit_note())
                    return
            time.sleep(0.5)

    def stop(self) -> None:
        """Children first (all at once, each with its own deadline), Redis last."""
        started = time.monotonic()
        rendering = self._videos_in_progress()
        running = [c for c in self.children if c.running()]
        if running or self.redis:
            self.say("stopping" + (f": handing back {', '.join(rendering)}" if rendering else ""))
        previous = {s: signal.signal(s, self._hurry) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            for child in running:
                child.process.terminate()
            for child in running:
                try:
                    child.process.wait(timeout=max(0.0, started + child.stop_s - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.say(f"{child.name} did not stop within {child.stop_s:.0f} s; killed")
                    child.process.kill()
                    child.process.wait()
            for video_id in rendering:
                self.say(f"  {video_id}: {self._status(video_id)}")
            redis_address.forget(self.data_dir, self.api_url, redis_address.API_RECORD_NAME)
            if self.redis:
                self.redis.stop()
                redis_address.forget(self.data_dir, self.redis.url)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        if running or self.redis:
            self.say(f"stopped in {time.monotonic() - started:.1f} s")
        self.children, self.redis = [], None

    def _hurry(self, signum, frame) -> None:
        # Asked again while stopping: no more waiting for anything.
        for child in self.children:
            if child.running():
                child.process.kill()
        if self.redis:
            self.redis.kill()

    def _videos_in_progress(self) -> list[str]:
        from app.liveness import live_workers
        from app.records import ACTIVE_SET, RecordStore

        if not self.redis_url:
            return []
        pids = {c.process.pid for c in self.children if c.running()}
        redis = Redis.from_url(self.redis_url, socket_timeout=2)
        try:
            ours = {name for name, w in live_workers(redis).items() if w.get("pid") in pids}
            # The record names the worker that claimed it the moment it claims; a worker's
            # announcement is refreshed only every few seconds, so it can lag a just-started render.
            store = RecordStore(redis)
            active = sorted(v.decode() for v in redis.smembers(ACTIVE_SET))
            records = [store.get(v) or {} for v in active]
            return [r["id"] for r in records if r.get("status") == "in_progress" and r.get("worker") in ours]
        except RedisError:
            return []

    def _status(self, video_id: str) -> str:
        from app.records import RecordStore

        try:
            record = RecordStore(Redis.from_url(self.redis_url, socket_timeout=2)).get(video_id)
        except RedisError:
            return "unknown (Redis is unreachable)"
        if record is None:
            return "gone"
        if record["status"] == "queued":
            return "queued again; it renders when a worker serving its model starts"
        return record["status"]


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _pings(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1).ping())
    except RedisError:
        return False


def stop_on_termination() -> None:
    """SIGTERM and SIGHUP (a closed terminal) stop the stack as Ctrl-C does."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    # Also when started with SIGINT ignored (as `cmd &` in a script does): Ctrl-C must stop it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
