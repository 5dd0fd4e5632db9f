"""Chaos, counted: submit many videos while SIGKILLing workers and the Redis server at random.

At the end every accepted video must be terminal (lost = 0), and no completed video's file may
change after it was first seen completed (duplicated renders = 0 visible).

    .venv/bin/python bench/soak.py [--videos 400] [--workers 3] [--seed 1]
"""

import argparse
import hashlib
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from redis import Redis


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.embedded_redis import EmbeddedRedis, free_port
from tests.support import Service, base_env, start_api, start_worker


TERMINAL = {"completed", "failed", "cancelled"}
TEST_CATALOG = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "catalog.toml"


@dataclass
class ChaosConfig:
    videos: int = 400
    workers: int = 3
    model: str = "tiny-wan-chaos"
    seed: int = 1
    # Seconds between acts of chaos, drawn uniformly.
    pause_s: tuple[float, float] = (1.0, 3.0)
    # Chance that an act kills Redis instead of a worker.
    redis_kill_share: float = 0.25
    redis_down_s: float = 1.0
    # Longest time the chaos lasts after the last submission.
    chaos_s: float = 120.0
    settle_timeout_s: float = 300.0


@dataclass
class ChaosReport:
    accepted: int = 0
    rejected_while_down: int = 0
    outcomes: Counter = field(default_factory=Counter)
    failures_by_code: Counter = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    changed_after_completion: list[str] = field(default_factory=list)
    worker_kills: int = 0
    redis_kills: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        return [
            f"accepted                 {self.accepted}  (503s while Redis was down, retried: {self.rejected_while_down})",
            f"completed                {self.outcomes['completed']}",
            f"failed                   {self.outcomes['failed']}  {dict(self.failures_by_code)}",
            f"cancelled                {self.outcomes['cancelled']}",
            f"lost                     {len(self.lost)}  (must be 0)",
            f"duplicated renders seen  {len(self.changed_after_completion)}  (must be 0)",
            f"chaos                    {self.worker_kills} worker SIGKILLs, {self.redis_kills} Redis SIGKILLs",
            f"wall time                {self.seconds:.1f} s",
        ]


class Chaos:
    def __init__(self, config: ChaosConfig, work: Path):
        self.config, self.work = config, work
        self.random = random.Random(config.seed)
        self.redis_server = EmbeddedRedis(work / "redis", port=free_port())
        # The observer's own client: short timeouts, since the server it reads is killed at random.
        self.observer_redis = Redis.from_url(self.redis_server.url, socket_timeout=5, socket_connect_timeout=5)
        self.env = base_env(self.redis_server.url, work / "data", TEST_CATALOG)
        self.workers: list[Service] = []
        self.report = ChaosReport()
        self.accepted: list[str] = []
        self.first_seen: dict[str, tuple[str, int]] = {}  # id -> (sha256 of the mp4, artifact attempt)
        self.done_submitting = threading.Event()
        self.stop_chaos = threading.Event()

    # -- processes -------------------------------------------------------------------------
    def start(self) -> None:
        self.redis_server.start()
        self.api, self.base = start_api(self.env, free_port(), self.work)
        redis = Redis.from_url(self.redis_server.url)
        for _ in range(self.config.workers):
            self.workers.append(start_worker(self.env, redis, self.work, [self.config.model]))

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop(timeout_s=10)
        self.api.stop()
        self.observer_redis.close()
        self.redis_server.stop()

    def _spawn_worker(self) -> Service:
        # Not waiting for readiness: Redis may be down right now, and the worker copes.
        return Service(["worker", "--models", self.config.model], self.env, self.work / f"w{time.monotonic_ns()}.log")

    # -- the three actors ------------------------------------------------------------------
    def submit(self, client: httpx.Client) -> None:
        for index in range(self.config.videos):
            body = {"prompt": f"chaos video {index}", "model": self.config.model, "seconds": "1"}
            while True:
                try:
                    response = client.post("/v1/videos", json=body)
                except httpx.HTTPError:
                    response = None
                if response is not None and response.status_code == 200:
                    self.accepted.append(response.json()["id"])
                    break
                self.report.rejected_while_down += 1
                time.sleep(0.2)
        self.done_submitting.set()

    def wreak(self) -> None:
        while not self.stop_chaos.wait(self.random.uniform(*self.config.pause_s)):
            if self.random.random() < self.config.redis_kill_share:
                self.redis_server.kill()
                self.report.redis_kills += 1
                time.sleep(self.config.redis_down_s)
                self.redis_server.start()
            else:
                victim = self.random.choice([w for w in self.workers if w.alive()] or [None])
                if victim is None:
                    continue
                victim.kill()
                self.report.worker_kills += 1
                self.workers.append(self._spawn_worker())

    def observe(self, client: httpx.Client) -> dict[str, dict]:
        """One pass over accepted videos; hashes each completed file the first time it is seen."""
        latest = {}
        for video_id in list(self.accepted):
            try:
                response = client.get(f"/v1/videos/{video_id}")
            except httpx.HTTPError:
                continue
            if response.status_code != 200:
                latest[video_id] = {"status": "missing" if response.status_code == 404 else "unknown"}
                continue
            video = response.json()
            latest[video_id] = video
            if video["status"] == "completed" and video_id not in self.first_seen:
                digest = self._content_digest(client, video_id)
                if digest:
                    self.first_seen[video_id] = digest
        return latest

    def _content_digest(self, client: httpx.Client, video_id: str) -> tuple[str, int] | None:
        try:
            content = client.get(f"/v1/videos/{video_id}/content")
            record = self.observer_redis.hget(f"t2v:video:{video_id}", "artifact_attempt")
        except (httpx.HTTPError, Exception):
            return None
        if content.status_code != 200 or record is None:
            return None
        return hashlib.sha256(content.content).hexdigest(), int(record)

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> ChaosReport:
        started = time.monotonic()
        self.start()
        try:
            with httpx.Client(base_url=self.base, timeout=10) as client:
                submitter = threading.Thread(target=self.submit, args=(client,))
                chaos = threading.Thread(target=self.wreak)
                submitter.start()
                chaos.start()
                while not self.done_submitting.is_set():
                    self.observe(client)
                    time.sleep(0.5)
                submitter.join()
                # The chaos goes on while the videos render, up to `chaos_s`; then everything settles.
                chaos_ends = time.monotonic() + self.config.chaos_s
                deadline = chaos_ends + self.config.settle_timeout_s
                while True:
                    latest = self.observe(client)
                    settled = all(v.get("status") in TERMINAL for v in latest.values())
                    if settled or time.monotonic() > chaos_ends:
                        self.stop_chaos.set()
                    if settled or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                self.stop_chaos.set()
                chaos.join()
                latest = self.observe(client)
                self._account(client, latest)
        finally:
            self.stop()
        self.report.seconds = time.monotonic() - started
        return self.report

    def _account(self, client: httpx.Client, latest: dict[str, dict]) -> None:
        self.report.accepted = len(self.accepted)
        for video_id in self.accepted:
            video = latest.get(video_id, {"status": "unknown"})
            status = video.get("status")
            if status not in TERMINAL:
                self.report.lost.append(video_id)
                continue
            self.report.outcomes[status] += 1
            if status == "failed":
                self.report.failures_by_code[(video.get("error") or {}).get("code")] += 1
            if status == "completed":
                seen = self.first_seen.get(video_id)
                now = self._content_digest(client, video_id)
                if seen is not None and now != seen:
                    self.report.changed_after_completion.append(video_id)


def run_chaos(config: ChaosConfig, work: Path | None = None) -> ChaosReport:
    return Chaos(config, work or Path(tempfile.mkdtemp(prefix="t2v-soak-"))).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=400)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    report = run_chaos(ChaosConfig(videos=args.videos, workers=args.workers, seed=args.seed))
    print("\n".join(report.lines()))
    if report.lost or report.changed_after_completion:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
