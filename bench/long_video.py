"""A 60-second video on the embedded model, end to end: what continuation costs, and memory.

Through the real stack (Valkey, API, one worker), side by side in one run:
  - one clip (a single render) timed from create to completed, `--clips` times before each length;
  - videos of 10, 30 and 60 s, each a plan of chunks, timed the same way;
  - the worker's resident memory sampled every 20 ms during each video (its peak per video).
Prints, per length: chunks, seconds, the ratio against chunks x one clip (target <= 1.10), and
the peak RSS (target: flat within 15 % from 10 s to 60 s).

    .venv/bin/python bench/long_video.py [--steps 4] [--size 64x64] [--clips 3]
"""

import argparse
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
from models.catalog import SHIPPED_CATALOG
from tests.support import base_env, start_api, start_worker


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class PeakRss:
    """The highest resident set size of a process while the block runs."""

    def __init__(self, pid: int, interval_s: float = 0.02):
        self.pid, self.interval_s, self.peak = pid, interval_s, 0
        self._stop = threading.Event()

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(self.interval_s)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def render(base: str, **fields) -> tuple[float, dict]:
    started = time.perf_counter()
    video = httpx.post(f"{base}/v1/videos", json={"model": "embedded", **fields}, timeout=30).json()
    while video["status"] in ("queued", "in_progress"):
        time.sleep(0.05)
        video = httpx.get(f"{base}/v1/videos/{video['id']}", timeout=30).json()
    if video["status"] != "completed":
        raise SystemExit(f"{video['id']} {video['status']}: {video['error']}")
    return time.perf_counter() - started, video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--clips", type=int, default=3)
    args = parser.parse_args()
    common = {"prompt": "a red square moving right", "size": args.size, "num_inference_steps": args.steps}
    with tempfile.TemporaryDirectory(prefix="t2v-bench-") as tmp:
        tmp = Path(tmp)
        redis_server = EmbeddedRedis(tmp / "redis").start()
        env = base_env(redis_server.url, tmp / "data", SHIPPED_CATALOG, T2V_DEFAULT_MODEL="embedded")
        api, base = start_api(env, free_port(), tmp)
        worker = start_worker(env, Redis.from_url(redis_server.url), tmp, ["embedded"])
        try:
            render(base, seconds="2", seed=0, **common)  # warm-up: first-call costs off the clock
            print(
                f"{'length':>7} {'chunks':>6} {'seconds':>8} {'one clip':>8} {'n x clip':>9} {'ratio':>6} {'peak RSS':>10}"
            )
            peaks = {}
            for seconds in (10, 30, 60):
                # One clip timed right before each long video: the machine's load hits both alike.
                clip_times = [render(base, seconds="2", seed=1 + i, **common)[0] for i in range(args.clips)]
                clip = statistics.median(clip_times)
                with PeakRss(worker.pid) as rss:
                    took, video = render(base, seconds=str(seconds), seed=100 + seconds, **common)
                chunks = video["chunks"]["total"]
                peaks[seconds] = rss.peak
                print(
                    f"{seconds:>6}s {chunks:>6} {took:>8.2f} {clip:>8.2f} {chunks * clip:>9.2f} "
                    f"{took / (chunks * clip):>6.3f} {rss.peak / 2**20:>8.1f} MiB",
                    flush=True,
                )
            spread = (max(peaks.values()) - min(peaks.values())) / min(peaks.values())
            print(f"peak RSS spread 10 s -> 60 s: {spread * 100:.1f} % (target <= 15 %)")
        finally:
            worker.stop()
            api.stop()
            redis_server.stop()


if __name__ == "__main__":
    main()
