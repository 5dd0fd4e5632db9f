"""What live previews and step events cost a render, measured side by side in one process.

(a) Preview images: the same renders (same prompt, seed, size) sampled without previews, with
previews at every opportunity (no budget: one every total/8 steps) and with the default budget
(T2V_PREVIEW_BUDGET_SHARE, 3 % of the denoising time). Prints the median step time of each, the
time one preview takes, and the share of the denoising time spent on previews (target <= 3 %).
(b) Step events: the per-step Redis call (progress + cancel check) without and with its
`progress` event appended in the same script, against an embedded Valkey: still one round trip.

    .venv/bin/python bench/previews.py [--model embedded] [--steps 20] [--rounds 2]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.embedded_redis import EmbeddedRedis
from app.events import stream
from app.events.progress import StepClock
from app.records import RecordStore, new_video_id
from app.settings import Settings
from app.storage.local import LocalStorage
from models.catalog import load_catalog


def render_once(model, params: dict, storage, budget: float | None) -> tuple[list[float], float, int]:
    """Step times, seconds spent on previews and previews made for one render."""
    from workers import previews
    from workers.runtime import sample

    previewer = None
    if budget is not None:
        previewer = previews.begin(storage, new_video_id(), 1, model, budget)
    try:
        result = sample(model, params, lambda done, total: None)
    finally:
        previews.end()
    spent, made = (previewer.spent_s, previewer.made) if previewer else (0.0, 0)
    return result.step_seconds[1:], spent, made  # the first step carries set-up


def bench_previews(model_name: str, catalog_path: Path | None, steps: int, rounds: int, scratch: Path) -> None:
    from models.loader import load_model

    catalog = load_catalog(catalog_path)
    entry = catalog[model_name]
    model = load_model(entry, Settings().data_dir)
    spec = entry.spec
    width, height = (int(side) for side in spec.default_size.split("x"))
    params = {
        "prompt": "a red circle moving right",
        "negative_prompt": None,
        "height": height,
        "width": width,
        "num_frames": spec.default_frames or 17,
        "num_inference_steps": steps,
        "guidance_scale": spec.default_guidance,
        "seed": 7,
        "fps": spec.native_fps,
    }
    storage = LocalStorage(scratch / "videos")
    default_budget = Settings().preview_budget_share
    modes = {"no previews": None, "unbudgeted": 1.0, f"budget {default_budget:.0%}": default_budget}
    render_once(model, params, storage, None)  # warm-up
    results = {name: {"steps": [], "spent": 0.0, "made": 0, "denoise": 0.0} for name in modes}
    for _ in range(rounds):
        for name, budget in modes.items():  # interleaved, so drift hits every mode alike
            step_times, spent, made = render_once(model, params, storage, budget)
            results[name]["steps"] += step_times
            results[name]["spent"] += spent
            results[name]["made"] += made
            results[name]["denoise"] += sum(step_times)
    print(
        f"(a) previews: {model_name} {spec.default_size}, {params['num_frames']} frames, {steps} steps, {rounds} rounds"
    )
    base = statistics.median(results["no previews"]["steps"])
    for name, r in results.items():
        median = statistics.median(r["steps"])
        per_preview = f"{1000 * r['spent'] / r['made']:.1f} ms each" if r["made"] else "-"
        share = r["spent"] / r["denoise"] if r["denoise"] else 0.0
        print(
            f"    {name:<14} step median {1000 * median:8.1f} ms ({median / base:5.3f}x)  "
            f"previews {r['made'] / rounds:4.1f}/render, {per_preview}, {share:6.2%} of denoising"
        )


def bench_step_events(calls: int, data_dir: Path) -> None:
    server = EmbeddedRedis(data_dir / "redis").start()
    try:
        from redis import Redis

        redis = Redis.from_url(server.url)
        store = RecordStore(redis)
        video_id = new_video_id()
        redis.hset(f"t2v:video:{video_id}", mapping={"status": '"in_progress"', "progress": "0"})
        clock = StepClock(calls)
        timings = {"progress only": [], "progress + event": []}
        progress = 0
        for i in range(1, calls + 1):
            for name in timings:
                # Progress rises at every call, as it does at every step of a render of <= 90
                # steps: both variants write (and, with the embedded Valkey, fsync) each time.
                progress += 1
                step_events = [clock.step(i, calls, 50)] if name.endswith("event") else []
                started = time.perf_counter()
                store.set_progress(video_id, progress, step_events)
                timings[name].append(time.perf_counter() - started)
        kept = redis.xlen(stream.events_key(video_id))
        print(f"(b) per-step Redis call, {calls} steps (one round trip each; {kept} events kept):")
        for name, values in timings.items():
            print(
                f"    {name:<17} p50 {1e6 * statistics.median(values):6.0f} us  p99 {1e6 * sorted(values)[int(0.99 * len(values))]:6.0f} us"
            )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--catalog", type=Path)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--event-calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="t2v-bench-previews-") as scratch:
        data_dir = Path(scratch)
        bench_step_events(args.event_calls, data_dir)
        bench_previews(args.model, args.catalog, args.steps, args.rounds, data_dir)


if __name__ == "__main__":
    main()
