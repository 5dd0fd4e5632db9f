"""How many `POST /v1/videos` the API takes per second, next to a bare FastAPI endpoint.

Both servers run here at once on loopback (the project's API with the embedded Valkey and a
live worker announced, so every check of the create path runs; `bench/bare_api.py` with the same
JSON body and uvicorn settings), and each level of concurrency hits one, then the other, so the
machine's load falls on both alike. Prints requests/s and p50/p99 at 1, 10 and 50 concurrent
clients, and the project's share of the bare endpoint's rate (target >= 40 %, p99 <= 100 ms at 50),
and the CPU each request cost the servers (the API's processes, Valkey's): on a machine whose
cores are shared with the load generator, that is what bounds the rate.

Load comes from `wrk` when it is installed (it costs the machine least), else from an asyncio
httpx client in this process. Nothing renders: the queued videos just accumulate in a scratch Redis.

    .venv/bin/python bench/post_load.py [--seconds 5] [--clients 1,10,50] [--api-workers 1]
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from redis import Redis


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from app.liveness import announce  # noqa: E402
from app.queueing import render_queue_name  # noqa: E402
from tests.support import Service, base_env, wait_until  # noqa: E402


BODY = {"prompt": "a red circle moving right", "model": "embedded", "seconds": "2", "size": "96x64"}
PATH = "/v1/videos"
WARMUP_S = 1.0
UVICORN = [sys.executable, "-m", "uvicorn"]
# What `t2v api` runs with (uvicorn picks uvloop and httptools when they are installed).
UVICORN_FLAGS = ["--log-level", "warning", "--no-access-log"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _httpx_load(url: str, clients: int, seconds: float) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def one_client():
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.post(url, json=BODY)
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return len(latencies), latencies, errors


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
errors = 0
response = function(status, headers, body) if status ~= 200 then errors = errors + 1 end end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %f %d\\n", summary.requests, latency:percentile(50), latency:percentile(99),
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def _wrk_load(wrk: str, script: Path, url: str, clients: int, seconds: float) -> tuple[float, float, float, int]:
    out = subprocess.run(
        [wrk, "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) (\d+)", out)
    requests_per_s = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    # wrk reports latencies in microseconds.
    return requests_per_s, float(match[2]) / 1e3, float(match[3]) / 1e3, int(match[4])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its live descendants (`t2v api --workers N` forks servers)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def measure(
    url: str, clients: int, seconds: float, wrk: str | None, script: Path, pids: list[int]
) -> tuple[float, float, float, int, list[float]]:
    """(requests/s, p50 ms, p99 ms, non-200 answers, CPU ms per request of each of `pids`) for
    `clients` concurrent clients."""
    if wrk:
        _wrk_load(wrk, script, url, clients, WARMUP_S)
        before = [cpu_seconds(pid) for pid in pids]
        rate, p50, p99, errors = _wrk_load(wrk, script, url, clients, seconds)
    else:
        asyncio.run(_httpx_load(url, clients, WARMUP_S))
        before = [cpu_seconds(pid) for pid in pids]
        count, latencies, errors = asyncio.run(_httpx_load(url, clients, seconds))
        rate, p50, p99 = count / seconds, statistics.median(latencies) * 1e3, percentile(latencies, 0.99) * 1e3
    duration = max(1, round(seconds)) if wrk else seconds  # wrk runs whole seconds
    served = max(1.0, rate * duration)
    cpu_ms = [(cpu_seconds(pid) - start) * 1e3 / served for pid, start in zip(pids, before, strict=True)]
    return rate, p50, p99, errors, cpu_ms


def _serve(args: list[str], env: dict, log: Path, base: str) -> Service:
    service = Service(args, env, log)

    def up():
        if not service.alive():
            raise RuntimeError(f"server exited:\n{service.output()}")
        try:
            return httpx.post(f"{base}{PATH}", json=BODY, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout_s=60, interval_s=0.1, what=f"{base} to answer")
    return service


class _BareService(Service):
    """`python -m uvicorn bench.bare_api:app` (Service runs `app.cli`; this runs uvicorn)."""

    def __init__(self, port: int, env: dict, log_path: Path):
        self.args, self.log_path = [], log_path
        self.log = open(log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [*UVICORN, "bench.bare_api:app", "--host", "127.0.0.1", "--port", str(port), *UVICORN_FLAGS],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--clients", default="1,10,50")
    parser.add_argument("--api-workers", type=int, default=1, help="`t2v api --workers N`")
    parser.add_argument("--httpx", action="store_true", help="use the httpx load generator even if wrk exists")
    parser.add_argument(
        "--appendfsync",
        choices=("always", "everysec"),
        default="always",
        help="the embedded Valkey's AOF policy: `t2v up` runs `always`, the compose Redis `everysec`",
    )
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    wrk = None if args.httpx else shutil.which("wrk")

    work = Path(tempfile.mkdtemp(prefix="t2v-post-load-"))
    redis_server = EmbeddedRedis(work / "redis").start()
    redis = Redis.from_url(redis_server.url)
    redis.config_set("appendfsync", args.appendfsync)
    env = base_env(redis_server.url, work / "data", ROOT / "models" / "catalog.toml", T2V_DEFAULT_MODEL="embedded")
    script = work / "post.lua"
    script.write_text(_WRK_SCRIPT.format(body=json.dumps(BODY)))

    # A worker for the model, as far as the API can tell: the liveness check finds it live.
    beating = threading.Event()

    def pretend_worker():
        description = {"models": ["embedded"], "queues": [render_queue_name("embedded")], "pid": 0}
        while not beating.wait(1.0):
            announce(redis, "bench-worker", description, ttl_s=10)

    announce(redis, "bench-worker", {"models": ["embedded"], "queues": [render_queue_name("embedded")]}, ttl_s=10)
    threading.Thread(target=pretend_worker, daemon=True).start()

    project_port, bare_port = free_port(), free_port()
    project_base, bare_base = f"http://127.0.0.1:{project_port}", f"http://127.0.0.1:{bare_port}"
    api_args = ["api", "--host", "127.0.0.1", "--port", str(project_port)]
    if args.api_workers > 1:
        api_args += ["--workers", str(args.api_workers)]
    services = []
    try:
        services.append(_serve(api_args, env, work / "api.log", project_base))
        bare = _BareService(bare_port, env, work / "bare.log")
        services.append(bare)
        wait_until(
            lambda: _answers(f"{bare_base}{PATH}"), timeout_s=60, interval_s=0.1, what="the bare endpoint to answer"
        )
        rows = []
        project_pids = [services[0].pid, redis_server.process.pid]
        for clients in levels:
            project = measure(f"{project_base}{PATH}", clients, args.seconds, wrk, script, project_pids)
            baseline = measure(f"{bare_base}{PATH}", clients, args.seconds, wrk, script, [bare.process.pid])
            rows.append((clients, project, baseline))
        videos = redis.scard("t2v:videos:active")
    finally:
        beating.set()
        for service in services:
            service.stop()
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)

    generator = f"wrk ({wrk})" if wrk else "httpx asyncio (in this process)"
    print(
        f"POST {PATH}: {args.seconds:.0f} s per level, load from {generator}, api workers {args.api_workers}, "
        f"appendfsync {args.appendfsync}"
    )
    print(
        f"{'clients':>7} | {'t2v req/s':>9} {'p50 ms':>7} {'p99 ms':>7} | {'bare req/s':>10} {'p50 ms':>7} {'p99 ms':>7} "
        f"| t2v/bare | CPU ms/request: t2v API + Valkey, bare"
    )
    for clients, (p_rate, p50, p99, p_err, (api_cpu, valkey_cpu)), (b_rate, b50, b99, b_err, (bare_cpu,)) in rows:
        errors = f"  ({p_err} + {b_err} non-200)" if p_err or b_err else ""
        print(
            f"{clients:>7} | {p_rate:>9.0f} {p50:>7.1f} {p99:>7.1f} | {b_rate:>10.0f} {b50:>7.1f} {b99:>7.1f} |"
            f" {p_rate / b_rate:>7.0%}  | {api_cpu:.2f} + {valkey_cpu:.2f}, {bare_cpu:.2f}{errors}"
        )
    print(f"videos accepted by the project's API: {videos} (target: >= 40 % of bare, p99 <= 100 ms at 50 clients)")


def _answers(url: str) -> bool:
    try:
        return httpx.post(url, json=BODY, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
