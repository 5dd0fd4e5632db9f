"""Videos per minute when renders of one model are denoised together (workers/batching.py).

N queued embedded-model videos (same size, frames, steps and guidance; their own prompts and
seeds), rendered and encoded in this process the way one worker would, in the same run:
- stock: one at a time on stock diffusers (`cpu_speedups = false`), what a worker did before;
- batch B: fixed batches of B (a batch finishes all its videos together);
- ramp to B: the worker's policy (workers/batching.py `BatchRamp`): one video, then 2, 4, ... up
  to B while matching videos are still queued.
Prints videos per minute and the speed-up over one at a time (with the CPU speed-ups), when the
first video is done, and the mean time until a video is done (all were queued at the start). Time
is CPU time by default (this process's and its ffmpeg encoders'): on a machine shared with other
work, wall time swings with their load; `--clock wall` measures elapsed time.

It measures the sampler and encoder in this process, without the queue around it.

    .venv/bin/python bench/batching.py [--videos 16] [--batches 1,4,8] [--ramps 4,8] [--size 64x64]
        [--frames 17] [--steps N] [--rounds 1] [--clock cpu|wall] [--no-stock]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.catalog import load_catalog
from models.embedded.evaluate import evaluation_cases
from models.embedded.expander import expand
from models.loader import load_model
from workers.batching import BatchRamp, decode_video, denoise_batch
from workers.encode import write_outputs
from workers.runtime import sample


def videos(count: int, size: str, frames: int, model, steps: int | None = None) -> list[dict]:
    spec = model.entry.spec
    width, height = (int(side) for side in size.split("x"))
    cases = evaluation_cases(count)[:count]
    return [
        {
            "prompt": expand(case["prompt"]) or case["prompt"],
            "negative_prompt": None,
            "height": height,
            "width": width,
            "num_frames": frames,
            "num_inference_steps": steps or spec.default_steps,
            "guidance_scale": spec.default_guidance,
            "seed": case["seed"],
            "fps": spec.native_fps,
        }
        for case in cases
    ]


def batch_sizes(count: int, batch: int, ramp: bool) -> list[int]:
    """The sizes a worker takes from `count` queued videos: fixed, or as its ramp grows."""
    if not ramp:
        return [min(batch, count - offset) for offset in range(0, count, batch)]
    sizes, left, policy = [], count, BatchRamp()
    while left:
        sizes.append(min(policy.limit(batch), left))
        left -= sizes[-1]
        policy.claimed(more_waiting=left > 0, most=batch)
    return sizes


def cpu_seconds() -> float:
    """CPU time of this process and of the ffmpeg encoders it waited for. On a shared machine a
    render's CPU time moves far less with the load than its wall time."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def render_all(model, queued: list[dict], sizes: list[int], clock) -> tuple[float, list[float]]:
    """(`clock` seconds for every video, `clock` seconds until each video is encoded)."""
    started = clock()
    done = []
    offset = 0
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            group = queued[offset : offset + size]
            if size == 1:
                results = [sample(model, group[0], lambda done, total: None)]
            else:
                # As the worker does: each video decoded and encoded before the next is decoded.
                denoised = denoise_batch(model, group, lambda done, total: None)
                results = (decode_video(denoised, index) for index in range(size))
            for index, result in enumerate(results):
                folder = Path(scratch) / f"{offset + index}"
                folder.mkdir()
                write_outputs(result.frames, group[index]["fps"], folder)
                done.append(clock() - started)
            offset += size
    return clock() - started, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--batches", default="1,4,8", help="fixed batch sizes")
    parser.add_argument("--ramps", default="4,8", help="largest batch of each ramped row ('' for none)")
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    parser.add_argument("--rounds", type=int, default=1, help="times each row runs (order reversed each round)")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: this process's and its encoders' CPU seconds (steady on a shared machine); wall: elapsed",
    )
    parser.add_argument("--no-stock", action="store_true", help="skip the stock diffusers row")
    args = parser.parse_args()
    entry = load_catalog()["embedded"]
    data_dir = Path(tempfile.mkdtemp(prefix="t2v-batching-"))
    model = load_model(entry, data_dir)
    queued = videos(args.videos, args.size, args.frames, model, args.steps)
    plans = [(f"batch {b}", model, batch_sizes(args.videos, b, False)) for b in map(int, args.batches.split(","))]
    plans += [
        (f"ramp to {b}", model, batch_sizes(args.videos, b, True))
        for b in map(int, filter(None, args.ramps.split(",")))
    ]
    if not args.no_stock:
        stock = load_model(entry.model_copy(update={"cpu_speedups": False}), data_dir)
        plans.insert(0, ("stock, one at a time", stock, [1] * args.videos))
    for _, warm, _ in plans[:2]:
        sample(warm, queued[0], lambda done, total: None)  # warm-up, not timed
    # Every row once per round, the order reversed each round, so load drift hits all alike.
    clock = cpu_seconds if args.clock == "cpu" else time.perf_counter
    totals = {label: [] for label, _, _ in plans}
    dones = {label: [] for label, _, _ in plans}
    for round_index in range(args.rounds):
        for label, chosen, sizes in plans if round_index % 2 == 0 else plans[::-1]:
            wall_started = time.perf_counter()
            total, done = render_all(chosen, queued, sizes, clock)
            totals[label].append(total)
            dones[label].append(done)
            wall = time.perf_counter() - wall_started
            print(f"... {label} {sizes}: {total:.1f} {args.clock} s, {wall:.1f} s wall", file=sys.stderr, flush=True)

    print(
        f"embedded model, {args.videos} videos of {args.size} x {args.frames} frames, "
        f"{queued[0]['num_inference_steps']} steps, guidance {queued[0]['guidance_scale']}; "
        f"CPU, {torch.get_num_threads()} threads, {os.cpu_count()} cores; {args.rounds} round(s), "
        f"{args.clock} time"
    )
    print(
        "| rendering | batches | videos/min | vs one at a time "
        "| first video done (s) | vs one at a time | mean video done (s) |"
    )
    print("|---|---|---|---|---|---|---|")

    def figures(label):
        rate = 60 * args.videos * len(totals[label]) / sum(totals[label])
        first = statistics.mean(done[0] for done in dones[label])
        mean = statistics.mean(statistics.mean(done) for done in dones[label])
        return rate, first, mean

    base_rate, base_first, _ = figures("batch 1")
    for label, _, sizes in plans:
        rate, first, mean = figures(label)
        shown = " ".join(map(str, sizes)) if len(set(sizes)) > 1 else f"{len(sizes)} x {sizes[0]}"
        print(
            f"| {label} | {shown} | {rate:.1f} | {rate / base_rate:.2f}x | {first:.1f} | "
            f"{first / base_first:.2f}x | {mean:.1f} |"
        )


if __name__ == "__main__":
    main()
