"""What the server adds on top of the sampler, and how fast it accepts work.

(a) N videos made by calling the diffusers pipeline and encoding in this process;
(b) the same N videos (same prompts, seeds, sizes) end to end: API -> Redis -> worker -> MP4.
Prints b/a (target <= 1.05), then p50/p99 of `POST /v1/videos` with 50 concurrent clients
(target p99 < 50 ms). Both parts run here in alternating rounds of `--round` videos, so machine
noise hits both; the spread of the rounds' ratios shows how much of the result is noise.

    .venv/bin/python bench/overhead.py [--model NAME] [--videos N] [--clients 50] [--threads N] \
        [--appendfsync always|everysec] [--set T2V_PREVIEW_BUDGET_SHARE=0 ...]

`--appendfsync everysec` runs the embedded Valkey as the compose Redis does (default `always`, as
`t2v up` does: every write, a render's per-step progress included, waits for a disk flush).
`--threads N` gives both sides N torch threads (the worker through OMP_NUM_THREADS, this process
through `torch.set_num_threads`); without it both use a worker's default (workers/threads.py: one
fewer than the cores).
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from redis import Redis


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.embedded_redis import EmbeddedRedis, free_port
from app.settings import Settings
from models.catalog import load_catalog
from tests.sse_client import read_events
from tests.support import base_env, start_api, start_worker


TERMINAL_EVENTS = ("completed", "failed", "cancelled")


PROMPTS = [
    "a red square moving right",
    "a blue circle going up",
    "a green triangle moving left",
    "a yellow circle going down",
]


def requests_for(n: int) -> list[dict]:
    return [{"prompt": PROMPTS[i % len(PROMPTS)], "seed": 1000 + i, "seconds": "2"} for i in range(n)]


def load_direct(model: str, catalog_path: Path | None, data_dir: Path):
    """Load the pipeline the way a worker does, and warm it up as a worker's first job would."""
    from models.loader import load_model

    catalog = load_catalog(catalog_path)
    settings = Settings(catalog=catalog_path, default_model=model)
    loaded = load_model(catalog[model], data_dir)
    direct = (loaded, catalog, settings)
    in_process(direct, requests_for(1))
    return direct


def in_process(direct, jobs: list[dict]) -> float:
    from workers.encode import write_outputs
    from workers.runtime import sample

    loaded, catalog, settings = direct
    started = time.perf_counter()
    for job in jobs:
        params = _params(job, catalog, settings)
        result = sample(loaded, params, lambda done, total: None)
        with tempfile.TemporaryDirectory() as scratch:
            write_outputs(result.frames, params["fps"], Path(scratch))
    return time.perf_counter() - started


def _params(job: dict, catalog, settings) -> dict:
    from app.schemas import CreateVideoRequest
    from app.validation import resolve_request

    resolved = resolve_request(CreateVideoRequest(**job), catalog, settings)
    return {
        "prompt": job["prompt"],
        "negative_prompt": resolved.negative_prompt,
        "height": resolved.height,
        "width": resolved.width,
        "num_frames": resolved.num_frames,
        "num_inference_steps": resolved.num_inference_steps,
        "guidance_scale": resolved.guidance_scale,
        "seed": job["seed"],
        "fps": resolved.fps,
    }


def end_to_end(base: str, model: str, jobs: list[dict]) -> tuple[float, float]:
    """Wall seconds for the videos made one after the other (each created once the previous one
    is done, as (a) makes them: a queue of several would be rendered as a batch, which
    bench/batching.py measures), and the seconds the worker itself spent sampling and encoding."""
    with httpx.Client(base_url=f"{base}/v1", timeout=30) as client:
        started = time.perf_counter()
        ids = []
        for job in jobs:
            ids.append(client.post("/videos", json={**job, "model": model}).json()["id"])
            # The video's event stream says it is done the moment it is (a poll would add up to
            # its interval), and costs the worker nothing while it waits.
            read_events(base, ids[-1], stop=lambda event: event.type in TERMINAL_EVENTS, read_timeout=600)
        wall = time.perf_counter() - started
        videos = [client.get(f"/videos/{video_id}").json() for video_id in ids]
    for video in videos:
        if video["status"] != "completed":
            raise SystemExit(f"{video['id']} {video['status']}: {video['error']}")
    return wall, sum(v["timings"]["denoise"] + v["timings"]["decode"] + v["timings"]["encode"] for v in videos)


def post_latency(base: str, model: str, clients: int, per_client: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client_loop(index: int):
        with httpx.Client(base_url=f"{base}/v1", timeout=30) as client:
            barrier.wait()
            for i in range(per_client):
                started = time.perf_counter()
                response = client.post("/videos", json={"prompt": f"client {index} video {i}", "model": model})
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, response.text
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=Settings().default_model)
    parser.add_argument("--catalog", type=Path, default=None)
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--round", type=int, default=2, help="videos per round of (a) and (b)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--posts-per-client", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="torch threads on both sides")
    parser.add_argument("--appendfsync", choices=("always", "everysec"), default="always")
    parser.add_argument(
        "--set", action="append", default=[], metavar="T2V_NAME=VALUE", help="a setting for API and worker"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="t2v-bench-"))
    redis_server = EmbeddedRedis(work / "redis").start()
    Redis.from_url(redis_server.url).config_set("appendfsync", args.appendfsync)
    catalog = args.catalog or Path(__file__).resolve().parents[1] / "models" / "catalog.toml"
    # Production heartbeat and sweep cadence (the test defaults are fast on purpose).
    env = base_env(
        redis_server.url,
        work / "data",
        catalog,
        T2V_DEFAULT_MODEL=args.model,
        T2V_POLL_AFTER_MS="100",
        T2V_WORKER_HEARTBEAT_S="2",
        T2V_WORKER_TTL_S="10",
        T2V_SWEEP_INTERVAL_S="5",
        T2V_SWEEP_GRACE_S="5",
    )
    env.update(item.split("=", 1) for item in args.set)
    threads = args.threads
    if args.threads:
        import torch

        env["OMP_NUM_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    else:
        from workers.threads import set_torch_threads

        env.pop("OMP_NUM_THREADS")  # both sides use a worker's default thread count
        threads = f"worker default ({set_torch_threads(None)})"
    api, base = start_api(env, free_port(), work)
    services = [api]
    try:
        # POST latency first, with no worker, so the flood of accepted videos does not render.
        latencies = post_latency(base, args.model, args.clients, args.posts_per_client)
        Redis.from_url(redis_server.url).flushall()

        jobs = requests_for(args.videos)
        worker = start_worker(env, Redis.from_url(redis_server.url), work, [args.model])
        services.append(worker)
        direct_model = load_direct(args.model, args.catalog, work / "data")
        end_to_end(base, args.model, jobs[:1])  # the worker's first job warms it up, as (a)'s did
        # Rounds of a few videos in the order (b) (a), (a) (b), (b) (a)...: the machine's drifting
        # load falls on both sides alike, and each round gives a ratio of its own.
        through_server = direct = worker_busy = 0.0
        round_ratios = []
        for index in range(0, len(jobs), args.round):
            chunk = jobs[index : index + args.round]
            sides = ("server", "direct") if (index // args.round) % 2 == 0 else ("direct", "server")
            seconds = {}
            for side in sides:
                if side == "server":
                    seconds[side], busy = end_to_end(base, args.model, chunk)
                    worker_busy += busy
                else:
                    seconds[side] = in_process(direct_model, chunk)
            through_server += seconds["server"]
            direct += seconds["direct"]
            round_ratios.append(seconds["server"] / seconds["direct"])
    finally:
        for service in services:
            service.stop()
        redis_server.stop()

    print(
        f"model {args.model}, {args.videos} videos, cpu cores {os.cpu_count()}, torch threads {threads}, "
        f"appendfsync {args.appendfsync}"
    )
    print(f"(a) in-process pipeline + encode : {direct:8.2f} s  ({direct / args.videos:.3f} s/video)")
    print(f"(b) API -> queue -> worker       : {through_server:8.2f} s  ({through_server / args.videos:.3f} s/video)")
    print(f"ratio b/a                        : {through_server / direct:8.3f}   (target <= 1.05)")
    print(
        f"    per round of {args.round}: median {statistics.median(round_ratios):.3f}, "
        f"min {min(round_ratios):.3f}, max {max(round_ratios):.3f} ({len(round_ratios)} rounds)"
    )
    print(f"    of (b), the worker sampled and encoded for {worker_busy:.2f} s; the rest is queueing, records, polling")
    print(
        f"POST /v1/videos, {args.clients} concurrent clients x {args.posts_per_client}: "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms "
        f"(target p99 < 50 ms), {len(latencies)} requests"
    )


if __name__ == "__main__":
    main()
