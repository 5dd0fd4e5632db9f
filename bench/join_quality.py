"""How seamless continuation is, on the embedded model: 20 extensions through the real stack.

Each case makes a 2-s video of a coloured shape moving one way, then extends it by 4 s
(`POST /v1/videos/extensions` by id: the first new chunk continues the source's latents, the
next chunks their predecessors'). At every join of the delivered video (the source's end, and
each chunk boundary after it) it measures:
  - join ratio: the mean absolute pixel difference between the last frame before the join and
    the first frame after it, over the mean frame-to-frame difference inside the chunks
    (1.0: the join looks like any other frame step; target <= 1.5);
  - the embedded analyzer's colour and direction of the object in the frames before and after
    the join (target: unchanged at every join in >= 90 % of the extensions); direction both as
    the analyzer's label (one of eight) and as a heading (travel turning by at most 45 degrees),
    next to the same measures across the middle of the source clip (no join: the baseline).

    .venv/bin/python bench/join_quality.py [--cases 20] [--steps 20]
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from redis import Redis


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.embedded_redis import EmbeddedRedis, free_port
from models.catalog import SHIPPED_CATALOG
from models.embedded.analyzer import analyze_frames
from tests.media import decode_mp4
from tests.support import base_env, start_api, start_worker


COLOURS = ["red", "blue", "green", "yellow", "white"]
MOTIONS = [("moving right", "right"), ("moving left", "left"), ("going up", "up"), ("going down", "down")]
# Frames on each side of a join that the analyzer reads (about a chunk: the embedded model's
# tracks wobble, so shorter windows misjudge the direction even inside one clip).
WINDOW = 16
# The analyzer names eight directions; a turn smaller than this counts as the same heading.
MAX_TURN_DEGREES = 45.0


def finished(base: str, video: dict) -> dict:
    while video["status"] in ("queued", "in_progress"):
        time.sleep(0.05)
        video = httpx.get(f"{base}/v1/videos/{video['id']}", timeout=30).json()
    if video["status"] != "completed":
        raise SystemExit(f"{video['id']} {video['status']}: {video['error']}")
    return video


def joins_of(redis: Redis, video: dict, source_frames: int) -> list[int]:
    """Indices of the first frame after each join."""
    import json

    plan = json.loads(redis.hget(f"t2v:video:{video['id']}", "long_video"))["plan"]
    joins, at = [], source_frames
    for count in plan["new_frames"]:
        joins.append(at)
        at += count
    return joins


def _angle(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Degrees between two travel vectors (180 when either is no travel at all)."""
    norm = math.hypot(*a) * math.hypot(*b)
    if norm == 0:
        return 180.0
    return math.degrees(math.acos(max(-1.0, min(1.0, (a[0] * b[0] + a[1] * b[1]) / norm))))


def measure(frames: np.ndarray, joins: list[int]) -> tuple[float, bool, bool, bool]:
    """(join ratio, colour kept, direction label kept, travel within 45 degrees) over all joins."""
    steps = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    at_joins = [steps[j - 1] for j in joins]
    inside = np.delete(steps, [j - 1 for j in joins])
    ratio = float(np.mean(at_joins) / inside.mean())
    colour = label = heading = True
    for j in joins:
        before = analyze_frames(frames[max(0, j - WINDOW) : j])
        after = analyze_frames(frames[j : j + WINDOW])
        colour &= before.colour == after.colour
        label &= before.direction == after.direction
        heading &= _angle(before.travel, after.travel) <= MAX_TURN_DEGREES
    return ratio, colour, label, heading


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="t2v-bench-") as tmp:
        tmp = Path(tmp)
        redis_server = EmbeddedRedis(tmp / "redis").start()
        redis = Redis.from_url(redis_server.url)
        env = base_env(redis_server.url, tmp / "data", SHIPPED_CATALOG, T2V_DEFAULT_MODEL="embedded")
        api, base = start_api(env, free_port(), tmp)
        worker = start_worker(env, redis, tmp, ["embedded"])
        ratios, kept, baseline = [], {"colour": 0, "direction": 0, "heading": 0}, [0, 0, 0]
        try:
            for case in range(args.cases):
                colour, (motion, _) = COLOURS[case % len(COLOURS)], MOTIONS[case % len(MOTIONS)]
                prompt = f"a {colour} square {motion}"
                common = {"model": "embedded", "num_inference_steps": args.steps, "seed": case}
                created = httpx.post(f"{base}/v1/videos", json={"prompt": prompt, "seconds": "2", **common}).json()
                source = finished(base, created)
                body = {"video": {"id": source["id"]}, "prompt": prompt, "seconds": "4", **common}
                extension = finished(base, httpx.post(f"{base}/v1/videos/extensions", json=body, timeout=30).json())
                frames = decode_mp4(httpx.get(f"{base}/v1/videos/{extension['id']}/content", timeout=30).content)
                ratio, *same = measure(frames, joins_of(redis, extension, source["num_frames"]))
                # The same measures across the middle of the source, a single render: the baseline.
                middle = source["num_frames"] // 2
                baseline = [
                    a + b for a, b in zip(baseline, measure(frames[: source["num_frames"]], [middle])[1:], strict=True)
                ]
                ratios.append(ratio)
                for name, value in zip(kept, same, strict=True):
                    kept[name] += value
                print(f"{prompt:32} join ratio {ratio:5.2f}  kept (colour, direction, heading): {same}", flush=True)
        finally:
            worker.stop()
            api.stop()
            redis_server.stop()
        print(f"join ratio: mean {np.mean(ratios):.2f}, max {np.max(ratios):.2f} (target <= 1.5)")
        for (name, count), inside in zip(kept.items(), baseline, strict=True):
            print(
                f"{name} unchanged at every join: {count}/{len(ratios)} (target >= 90 %); "
                f"across the middle of a single render: {inside}/{len(ratios)}"
            )


if __name__ == "__main__":
    main()
