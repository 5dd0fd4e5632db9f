"""What a replica's acknowledgement costs a create, and how many bytes of Redis a video holds.

A Valkey primary and a replica (fsync always on both), and two API processes on that primary,
side by side: one answers after the primary's write (`T2V_REDIS_MIN_REPLICAS=0`, one machine
holds the video), the other after a replica acknowledged it too (`=1`, `WAIT`). Each level of
concurrency hits one, then the other, so the machine's load falls on both alike. Prints
requests/s and p50/p99 for both, and Redis memory per queued video (record, job, indexes, events).

    .venv/bin/python bench/replicated_create.py [--seconds 5] [--clients 1,16]
"""

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from redis import Redis


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.embedded_redis import free_port, valkey_binary  # noqa: E402
from app.liveness import announce  # noqa: E402
from tests.conftest import TEST_CATALOG  # noqa: E402
from tests.support import base_env, start_api, wait_until  # noqa: E402


BODY = {"prompt": "a red circle moving right", "model": "tiny-wan"}


async def load(url: str, clients: int, seconds: float, method: str = "POST") -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=clients), timeout=30) as client:
        deadline = time.perf_counter() + seconds

        async def one_client():
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await (client.post(url, json=BODY) if method == "POST" else client.get(url))
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return len(latencies), latencies, errors


def valkey(port: int, data: Path, *extra: str) -> subprocess.Popen:
    data.mkdir(parents=True)
    args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", ""]
    args += ["--appendonly", "yes", "--appendfsync", "always", *extra]
    return subprocess.Popen([str(valkey_binary()), *args], stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", default="1,16")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="t2v-bench-replication-"))
    primary_port, replica_port = free_port(), free_port()
    servers = [
        valkey(primary_port, work / "primary"),
        valkey(replica_port, work / "replica", "--replicaof", "127.0.0.1", str(primary_port)),
    ]
    apis = []
    try:
        primary, replica = Redis(port=primary_port), Redis(port=replica_port)
        wait_until(lambda: _up(replica) and replica.info("replication")["master_link_status"] == "up", 20)
        # A live worker for the model, so the create path runs every check it runs in production.
        announce(primary, "bench.1.x", {"models": ["tiny-wan"], "queues": ["render:tiny-wan"], "pid": 1}, 3600)
        urls = {}
        for name, replicas in (("one machine", "0"), ("replica acked", "1")):
            env = base_env(f"redis://127.0.0.1:{primary_port}/0", work / "data", TEST_CATALOG)
            env["T2V_REDIS_MIN_REPLICAS"] = replicas
            api, base = start_api(env, free_port(), work)
            apis.append(api)
            urls[name] = f"{base}/v1/videos"

        print(f"POST /v1/videos, {args.seconds:.0f} s per run; primary and replica fsync every write")
        print(f"{'clients':>8} {'mode':>14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for clients in (int(c) for c in args.clients.split(",")):
            for name, url in urls.items():
                asyncio.run(load(url, clients, 1.0))  # warm-up
                count, latencies, errors = asyncio.run(load(url, clients, args.seconds))
                p50 = statistics.median(latencies) * 1e3
                p99 = sorted(latencies)[int(0.99 * (len(latencies) - 1))] * 1e3
                print(f"{clients:>8} {name:>14} {count / args.seconds:>8.0f} {p50:>8.1f} {p99:>8.1f} {errors:>7}")

        # What clients polling a video cost: GET of one video, same clients.
        with httpx.Client(timeout=30) as http:
            video_id = http.post(urls["one machine"], json=BODY).json()["id"]
        for clients in (int(c) for c in args.clients.split(",")):
            count, latencies, errors = asyncio.run(
                load(f"{urls['one machine']}/{video_id}", clients, args.seconds, "GET")
            )
            p50 = statistics.median(latencies) * 1e3
            p99 = sorted(latencies)[int(0.99 * (len(latencies) - 1))] * 1e3
            print(f"{clients:>8} {'GET a video':>14} {count / args.seconds:>8.0f} {p50:>8.1f} {p99:>8.1f} {errors:>7}")

        videos = 500
        memory, commands = primary.info("memory")["used_memory"], primary.info("stats")["total_commands_processed"]
        with httpx.Client(timeout=30) as http:
            for _ in range(videos):
                http.post(urls["one machine"], json=BODY).raise_for_status()
        per_video = (primary.info("memory")["used_memory"] - memory) / videos
        per_create = (primary.info("stats")["total_commands_processed"] - commands) / videos
        print(f"Redis memory per queued video (record, job, queue entry, indexes, events): {per_video:.0f} bytes")
        print(f"Redis commands per create (the API's side only): {per_create:.1f}")
    finally:
        for api in apis:
            api.stop()
        for server in servers:
            server.kill()
            server.wait()


def _up(redis: Redis) -> bool:
    try:
        return redis.ping()
    except Exception:
        return False


if __name__ == "__main__":
    main()
