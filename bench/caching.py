"""Step caching and compilation on the embedded model (CPU): speed next to fidelity.

Each configuration is loaded through the production loader (a catalog entry with a `cache`
option) and renders the same evaluation clips as `models/embedded/evaluate.py` (same prompts,
seeds, sizes and frame counts, through the offline expander, an MP4 and the analyzer). For each
it prints seconds per clip, the speed-up over no cache, colour / direction / shape accuracy, and
how far its frames are from the uncached ones (mean absolute difference, 0-255 scale).

A configuration is fit to be a default when every accuracy is at least the uncached one's.
Re-run it whenever the embedded weights change:

    .venv/bin/python bench/caching.py [--per-split 4] [--no-compile]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.catalog import CacheOptions, load_catalog
from models.cpu_speedups import apply_cpu_speedups
from models.embedded import FPS
from models.embedded.analyzer import analyze_video, write_video
from models.embedded.evaluate import evaluation_cases, generate
from models.loader import compile_transformer, load_model


# (label, catalog entry changes, compile the transformer)
CONFIGURATIONS = [
    ("none", {}, False),
    ("stock diffusers", {"cpu_speedups": False}, False),
    ("first_block 0.05", {"cache": CacheOptions(kind="first_block", threshold=0.05)}, False),
    ("first_block 0.1", {"cache": CacheOptions(kind="first_block", threshold=0.1)}, False),
    ("first_block 0.2", {"cache": CacheOptions(kind="first_block", threshold=0.2)}, False),
    ("first_block 0.4", {"cache": CacheOptions(kind="first_block", threshold=0.4)}, False),
    ("taylorseer every 2", {"cache": CacheOptions(kind="taylorseer", options={"cache_interval": 2})}, False),
    ("taylorseer every 3", {"cache": CacheOptions(kind="taylorseer", options={"cache_interval": 3})}, False),
    ("taylorseer every 5", {"cache": CacheOptions(kind="taylorseer", options={"cache_interval": 5})}, False),
    # Text padding stays unfolded: its key length changes with the prompt, and each length would
    # recompile. The other CPU speed-ups (merged guidance passes, oneDNN convolutions) stay on.
    ("torch.compile", {"cpu_speedups": False}, True),
]
ASPECTS = ("colour", "direction", "shape")


def prepare(label: str, changes: dict, compiled: bool, cases: list[dict], data_dir: Path) -> dict:
    """Load (and warm up) one configuration through the production loader."""
    entry = load_catalog()["embedded"].model_copy(update=changes)
    pipeline = load_model(entry, data_dir).pipeline
    started = time.perf_counter()
    if compiled:
        apply_cpu_speedups(pipeline, fold_padding=False)
        # The loader only compiles on CUDA; measured here, its way, to see what CPU would gain.
        compile_transformer(pipeline.transformer)
    # Warm-up, on every shape the cases use when compiling (compilation is not in the timings).
    shapes = sorted({(c["size"], c["num_frames"]) for c in cases})
    # (smallest first: the warm-up of an uncompiled row only pays one-time set-up costs)
    shapes.sort(key=lambda shape: int(shape[0].split("x")[0]) * int(shape[0].split("x")[1]) * shape[1])
    for size, frames in shapes if compiled else shapes[:1]:
        generate(pipeline, "a red square moving right", size, frames, 0)
    return {"label": label, "pipeline": pipeline, "results": [], "warm_seconds": time.perf_counter() - started}


def run_case(row: dict, case: dict, folder: Path, index: int) -> None:
    start = time.perf_counter()
    frames = generate(row["pipeline"], case["prompt"], case["size"], case["num_frames"], case["seed"])
    seconds = time.perf_counter() - start
    print(f"    {row['label']}: {case['prompt']} {case['size']} {case['num_frames']}f {seconds:.2f}s", file=sys.stderr)
    video = folder / f"{index}.mp4"
    write_video(video, frames, FPS)
    analysis = analyze_video(video)
    row["results"].append(
        {
            "seconds": seconds,
            "frames": np.asarray(frames, dtype=np.float32),
            **{f"{k}_ok": getattr(analysis, k) == case[k] for k in ASPECTS},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-split", type=int, default=4, help="clips per split (seen, held-out)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile row")
    parser.add_argument("--only", help="comma-separated labels to run (the uncached row always runs)")
    args = parser.parse_args()
    cases = evaluation_cases(args.per_split)
    chosen = [c for c in CONFIGURATIONS if not (args.no_compile and c[2])]
    if args.only:
        wanted = {"none", *args.only.split(",")}
        chosen = [c for c in chosen if c[0] in wanted]
    data_dir = Path(tempfile.mkdtemp(prefix="t2v-caching-"))
    rows = [prepare(label, changes, compiled, cases, data_dir) for label, changes, compiled in chosen]
    # Every clip in every configuration in turn, so the machine's changing load hits all alike.
    with tempfile.TemporaryDirectory() as folder:
        for index, case in enumerate(cases):
            for row in rows:
                run_case(row, case, Path(folder), index)

    baseline = rows[0]
    base_seconds = statistics.mean(r["seconds"] for r in baseline["results"])
    base_accuracy = {k: np.mean([r[f"{k}_ok"] for r in baseline["results"]]) for k in ASPECTS}
    print(
        f"embedded model on CPU ({torch.get_num_threads()} threads, {os.cpu_count()} cores), "
        f"{len(cases)} evaluation clips per row ({args.per_split} seen + {args.per_split} held-out)"
    )
    print("| configuration | s/clip | speed-up | colour | direction | shape | mean abs diff vs none | fit |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        seconds = statistics.mean(r["seconds"] for r in row["results"])
        accuracy = {k: np.mean([r[f"{k}_ok"] for r in row["results"]]) for k in ASPECTS}
        diff = np.mean(
            [
                np.abs(r["frames"] - b["frames"]).mean() * 255
                for r, b in zip(row["results"], baseline["results"], strict=True)
            ]
        )
        fit = all(accuracy[k] >= base_accuracy[k] for k in ASPECTS)
        print(
            f"| {row['label']} | {seconds:.2f} | {base_seconds / seconds:.2f}x | {accuracy['colour']:.0%} "
            f"| {accuracy['direction']:.0%} | {accuracy['shape']:.0%} | {diff:.1f} | {'yes' if fit else 'no'} |"
        )
    compiled = [r for r in rows if r["label"] == "torch.compile"]
    if compiled:
        print(f"torch.compile warm-up (compiling every shape once): {compiled[0]['warm_seconds']:.1f} s")


if __name__ == "__main__":
    main()
