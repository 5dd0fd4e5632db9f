"""Videos per minute when renders of one model are denoised together (workers/batching.py).

N queued embedded-model videos (same size, frames, steps and guidance; their own prompts and
seeds), rendered and encoded in this process the way one worker would: one at a time, then in
batches of 4 and 8, in the same run. Prints videos per minute, the speed-up over batch 1, and
when the first video is done (a batch finishes all its videos together).

It measures the sampler and encoder in this process, as a worker with T2V_MAX_BATCH renders a
batch, without the queue around it.

    .venv/bin/python bench/batching.py [--videos 16] [--batches 1,4,8] [--size 64x64] [--frames 17] [--steps N]
"""

import argparse
import os
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
from workers.batching import sample_batch
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


def render_all(model, queued: list[dict], batch: int) -> tuple[float, float]:
    """(wall seconds for every video, seconds until the first one is encoded)."""
    started = time.perf_counter()
    first_done = None
    with tempfile.TemporaryDirectory() as scratch:
        for offset in range(0, len(queued), batch):
            group = queued[offset : offset + batch]
            if batch == 1:
                results = [sample(model, group[0], lambda done, total: None)]
            else:
                results = sample_batch(model, group, lambda done, total: None)
            for index, result in enumerate(results):
                folder = Path(scratch) / f"{offset + index}"
                folder.mkdir()
                write_outputs(result.frames, group[index]["fps"], folder)
                if first_done is None:
                    first_done = time.perf_counter() - started
    return time.perf_counter() - started, first_done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--batches", default="1,4,8")
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    args = parser.parse_args()
    model = load_model(load_catalog()["embedded"], Path(tempfile.mkdtemp(prefix="t2v-batching-")))
    queued = videos(args.videos, args.size, args.frames, model, args.steps)
    sample(model, queued[0], lambda done, total: None)  # warm-up, not timed
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        wall, first = render_all(model, queued, batch)
        rows.append((batch, wall, first))
        print(f"... batch {batch}: {wall:.1f} s", file=sys.stderr, flush=True)

    print(
        f"embedded model, {args.videos} videos of {args.size} x {args.frames} frames, "
        f"{queued[0]['num_inference_steps']} steps, guidance {queued[0]['guidance_scale']}; "
        f"CPU, {torch.get_num_threads()} threads, {os.cpu_count()} cores"
    )
    print("| batch | videos/min | speed-up | first video done (s) | vs batch 1 |")
    print("|---|---|---|---|---|")
    base_rate, base_first = None, None
    for batch, wall, first in rows:
        rate = 60 * args.videos / wall
        base_rate, base_first = base_rate or rate, base_first or first
        print(f"| {batch} | {rate:.1f} | {rate / base_rate:.2f}x | {first:.1f} | {first / base_first:.2f}x |")


if __name__ == "__main__":
    main()
