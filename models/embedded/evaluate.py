"""Evaluate the shipped embedded pipeline end to end, the way a user meets it.

Short prompts go through the offline expander, the pipeline loaded with
DiffusionPipeline.from_pretrained, an H.264 MP4 encode, and the analyzer.
Prints colour / direction / shape accuracy split by seen and held-out combinations,
seconds per clip, and writes a contact sheet PNG.

    python -m models.embedded.evaluate [--per-split 24] [--vae-only]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from models.embedded import DEFAULT_GUIDANCE, DEFAULT_STEPS, FPS, FRAME_COUNTS, PIPELINE_DIR, SIZES
from models.embedded.analyzer import analyze_frames, analyze_video, write_video
from models.embedded.expander import expand
from models.embedded.world import COLOURS, DIRECTIONS, HELD_OUT, SHAPES, render, sample_spec


SHORT_DIRECTION = {
    "left": "moving left", "right": "going right", "up": "going up", "down": "heading down",
    "up-left": "drifting up-left", "up-right": "moving to the upper right",
    "down-left": "going down and to the left", "down-right": "heading down-right",
}  # fmt: skip
SHAPE_SYNONYMS = {"circle": ["circle", "ball"], "square": ["square", "box"], "triangle": ["triangle"]}


def evaluation_cases(per_split: int, seed: int = 0) -> list[dict]:
    """Deterministic short prompts; held-out ones cycle through every held-out combo."""
    rng = random.Random(seed)
    seen = [(c, s, d) for c in COLOURS for s in SHAPES for d in DIRECTIONS if (c, s, d) not in HELD_OUT]
    rng.shuffle(seen)
    held_out = sorted(HELD_OUT)
    cases = []
    for split, combos in (("seen", seen), ("held-out", held_out)):
        for index in range(per_split):
            colour, shape, direction = combos[index % len(combos)]
            noun = rng.choice(SHAPE_SYNONYMS[shape])
            prompt = f"a {colour} {noun} {SHORT_DIRECTION[direction]}"
            size = SIZES[index % len(SIZES)]
            num_frames = FRAME_COUNTS[(index // len(SIZES)) % len(FRAME_COUNTS)]
            cases.append(dict(split=split, prompt=prompt, colour=colour, shape=shape, direction=direction,
                              size=size, num_frames=num_frames, seed=1000 + len(cases)))  # fmt: skip
    return cases


def load_pipeline(folder: Path = PIPELINE_DIR):
    from diffusers import DiffusionPipeline

    pipeline = DiffusionPipeline.from_pretrained(folder)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def generate(pipeline, prompt: str, size: str, num_frames: int, seed: int) -> np.ndarray:
    width, height = (int(v) for v in size.split("x"))
    caption = expand(prompt) or prompt
    return pipeline(
        prompt=caption,
        negative_prompt="",
        height=height,
        width=width,
        num_frames=num_frames,
        num_inference_steps=DEFAULT_STEPS,
        guidance_scale=DEFAULT_GUIDANCE,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
    ).frames[0]


def contact_sheet(rows: list[tuple[str, np.ndarray]], path: Path, frames_per_row: int = 5) -> None:
    """One row per prompt: label, then evenly spaced frames, upscaled 2x."""
    scale, label_width, cell_height, cell_width = 2, 240, 64 * 2, 96 * 2
    sheet = Image.new("RGB", (label_width + frames_per_row * (cell_width + 4), len(rows) * (cell_height + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, (label, frames) in enumerate(rows):
        top = row * (cell_height + 4)
        draw.text((4, top + cell_height // 2 - 12), label, fill="black")
        for column, index in enumerate(np.linspace(0, len(frames) - 1, frames_per_row).round().astype(int)):
            image = Image.fromarray((np.clip(frames[index], 0, 1) * 255).astype(np.uint8))
            image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
            sheet.paste(image, (label_width + column * (cell_width + 4), top))
    sheet.quantize(colors=128).save(path, optimize=True)  # flat colours: a palette keeps it small


def summarise(results: list[dict]) -> str:
    lines = ["| split | clips | colour | direction | shape |", "|---|---|---|---|---|"]
    for split in ("seen", "held-out"):
        subset = [r for r in results if r["split"] == split]
        if subset:
            accuracy = {k: 100 * np.mean([r[f"{k}_ok"] for r in subset]) for k in ("colour", "direction", "shape")}
            lines.append(f"| {split} | {len(subset)} | {accuracy['colour']:.0f}% | {accuracy['direction']:.0f}% "
                         f"| {accuracy['shape']:.0f}% |")  # fmt: skip
    lines += ["", "| size | frames | seconds per clip (mean) |", "|---|---|---|"]
    for size in SIZES:
        for num_frames in FRAME_COUNTS:
            times = [r["seconds"] for r in results if r["size"] == size and r["num_frames"] == num_frames]
            if times:
                lines.append(f"| {size} | {num_frames} ({(num_frames - 1) / FPS:.0f} s) | {np.mean(times):.2f} |")
    return "\n".join(lines)


def evaluate_pipeline(per_split: int, sheet_path: Path | None) -> list[dict]:
    pipeline = load_pipeline()
    generate(pipeline, "a red square moving right", SIZES[0], FRAME_COUNTS[0], 0)  # warm-up, not timed
    results, sheet_rows = [], []
    with tempfile.TemporaryDirectory() as folder:
        for index, case in enumerate(evaluation_cases(per_split)):
            start = time.perf_counter()
            frames = generate(pipeline, case["prompt"], case["size"], case["num_frames"], case["seed"])
            seconds = time.perf_counter() - start
            video_path = Path(folder) / f"{index}.mp4"
            write_video(video_path, frames, FPS)
            analysis = analyze_video(video_path)
            result = dict(case, seconds=seconds, found_colour=analysis.colour, found_direction=analysis.direction,
                          found_shape=analysis.shape)  # fmt: skip
            for key in ("colour", "direction", "shape"):
                result[f"{key}_ok"] = bool(analysis.__getattribute__(key) == case[key])
            results.append(result)
            marks = "".join("✓" if result[f"{k}_ok"] else "✗" for k in ("colour", "direction", "shape"))
            print(f"{case['split']:8} {case['prompt']:42} {case['size']} {case['num_frames']:2}f {seconds:5.2f}s "
                  f"-> {analysis.colour} {analysis.direction} {analysis.shape} {marks}")  # fmt: skip
            if index % per_split < 6:
                sheet_rows.append((f"{case['split']}: {case['prompt']}\n-> {analysis.colour}, {analysis.direction}, "
                                   f"{analysis.shape}", frames))  # fmt: skip
    if sheet_path is not None:
        contact_sheet(sheet_rows, sheet_path)
    return results


@torch.no_grad()
def evaluate_vae(vae, count: int) -> dict[str, float]:
    """Reconstruct ground-truth clips through a VAE and analyse them: a transformer
    can never be more faithful than its VAE."""
    hits = {"colour": 0, "direction": 0, "shape": 0}
    for seed in range(count):
        spec = sample_spec(seed, 64, 64, 17, split="any")
        clip = torch.from_numpy(render(spec)).float().div(127.5).sub(1).permute(3, 0, 1, 2)[None]
        decoded = vae.decode(vae.encode(clip).latent_dist.mode()).sample
        frames = ((decoded[0].permute(1, 2, 3, 0).clamp(-1, 1) + 1) / 2).numpy()
        analysis = analyze_frames(frames)
        for key in hits:
            hits[key] += getattr(analysis, key) == getattr(spec, key)
    return {key: value / count for key, value in hits.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-split", type=int, default=24)
    parser.add_argument("--vae-only", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write per-clip results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("VAE reconstruction accuracy (30 clips):", evaluate_vae(load_pipeline().vae, 30))
    if args.vae_only:
        return
    results = evaluate_pipeline(args.per_split, PIPELINE_DIR.parent / "contact_sheet.png")
    print(summarise(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
