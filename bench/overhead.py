"""What the server adds on top of the sampler, and how fast it accepts work.

(a) N videos made by calling the diffusers pipeline and encoding in this process;
(b) the same N videos (same prompts, seeds, sizes) end to end: API -> Redis -> worker -> MP4.
Prints b/a (target <= 1.05), then p50/p99 of `POST /v1/videos` with 50 concurrent clients
(target p99 < 50 ms). Both parts run here, side by side, so machine noise hits both.

    .venv/bin/python bench/overhead.py [--model NAME] [--videos N] [--clients 50]
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
from tests.support import base_env, start_api, start_worker


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
    """Wall seconds for the batch, and the seconds the worker itself spent sampling and encoding."""
    with httpx.Client(base_url=f"{base}/v1", timeout=30) as client:
        warm = client.post("/videos", json={**jobs[0], "model": model}).json()
        _wait_all(client, [warm["id"]])
        started = time.perf_counter()
        ids = [client.post("/videos", json={**job, "model": model}).json()["id"] for job in jobs]
        _wait_all(client, ids)
        wall = time.perf_counter() - started
        timings = [client.get(f"/videos/{video_id}").json()["timings"] for video_id in ids]
        return wall, sum(t["denoise"] + t["decode"] + t["encode"] for t in timings)


def _wait_all(client: httpx.Client, ids: list[str]) -> None:
    """One worker takes jobs in order: poll only the oldest unfinished video, so the poller
    itself costs the worker almost no CPU."""
    for video_id in ids:
        while (video := client.get(f"/videos/{video_id}").json())["status"] in ("queued", "in_progress"):
            time.sleep(0.1)  # the server's openai-poll-after-ms here
        if video["status"] != "completed":
            raise SystemExit(f"{video_id} {video['status']}: {video['error']}")


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
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--posts-per-client", type=int, default=10)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="t2v-bench-"))
    redis_server = EmbeddedRedis(work / "redis").start()
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
    env.pop("OMP_NUM_THREADS")  # both sides use torch's default thread count
    api, base = start_api(env, free_port(), work)
    services = [api]
    try:
        # POST latency first, with no worker, so the flood of accepted videos does not render.
        latencies = post_latency(base, args.model, args.clients, args.posts_per_client)
        Redis.from_url(redis_server.url).flushall()

        jobs = requests_for(args.videos)
        worker = start_worker(env, Redis.from_url(redis_server.url), work, [args.model])
        services.append(worker)
        # Alternate halves of (a) and (b), so slow drift of the machine's load hits both alike.
        halves = [jobs[: len(jobs) // 2], jobs[len(jobs) // 2 :]]
        direct_model = load_direct(args.model, args.catalog, work / "data")
        through_server = direct = worker_busy = 0.0
        for half in halves:
            wall, busy = end_to_end(base, args.model, half)
            through_server += wall
            worker_busy += busy
            direct += in_process(direct_model, half)
    finally:
        for service in services:
            service.stop()
        redis_server.stop()

    print(f"model {args.model}, {args.videos} videos, cpu threads {os.cpu_count()}")
    print(f"(a) in-process pipeline + encode : {direct:8.2f} s  ({direct / args.videos:.3f} s/video)")
    print(f"(b) API -> queue -> worker       : {through_server:8.2f} s  ({through_server / args.videos:.3f} s/video)")
    print(f"ratio b/a                        : {through_server / direct:8.3f}   (target <= 1.05)")
    print(f"    of (b), the worker sampled and encoded for {worker_busy:.2f} s; the rest is queueing, records, polling")
    print(
        f"POST /v1/videos, {args.clients} concurrent clients x {args.posts_per_client}: "
        f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {percentile(latencies, 0.99) * 1000:.1f} ms "
        f"(target p99 < 50 ms), {len(latencies)} requests"
    )


if __name__ == "__main__":
    main()
