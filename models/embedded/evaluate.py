"""Evaluate the shipped embedded pipeline end to end, the way a user meets it.

Short prompts go through the offline expander, the pipeline loaded with
DiffusionPipeline.from_pretrained, an H.264 MP4 encode, and the analyzer.
Prints colour / direction / shape accuracy split by seen and held-out combinations,
seconds per clip, image-to-video and continuation accuracy (models/embedded/conditioning.py),
and writes a contact sheet PNG.

    python -m models.embedded.evaluate [--per-split 24] [--vae-only] [--pipeline FOLDER]
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
from models.embedded.analyzer import analyze_frames, analyze_video, locate, read_video, write_video
from models.embedded.captions import caption_for
from models.embedded.conditioning import CONTINUATION_OVERLAP, continue_video, image_to_video
from models.embedded.expander import expand
from models.embedded.world import COLOURS, DIRECTIONS, HELD_OUT, SHAPES, ClipSpec, centre_track, render, sample_spec


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


def sampling_arguments(caption: str, size: str, num_frames: int, seed: int) -> dict:
    width, height = (int(v) for v in size.split("x"))
    return dict(
        prompt=caption,
        negative_prompt="",
        height=height,
        width=width,
        num_frames=num_frames,
        num_inference_steps=DEFAULT_STEPS,
        guidance_scale=DEFAULT_GUIDANCE,
        generator=torch.Generator().manual_seed(seed),
        output_type="np",
    )


def generate(pipeline, prompt: str, size: str, num_frames: int, seed: int) -> np.ndarray:
    return pipeline(**sampling_arguments(expand(prompt) or prompt, size, num_frames, seed)).frames[0]


# ---------------------------------------------------------------- conditioned generation

CONDITIONED_CASES = 20
# Continuations: a 17-frame ground-truth clip, then 12 generated frames.
CONTINUED_FRAMES = 29
POSITION_TOLERANCE = 4.0  # pixels between the measured and the lawful object centre


def bounces(spec: ClipSpec) -> bool:
    """Whether the object reflects off an edge within the clip."""
    track = centre_track(spec)
    steps = np.diff(track, axis=0)
    return bool((np.abs(steps - steps[0]) > 1e-3).any())


def conditioned_specs(kind: str, count: int) -> list[ClipSpec]:
    """Deterministic cases that stay clear of the edges; image-to-video alternates seen
    and held-out combinations, continuations move slowly so 29 frames fit."""
    specs, seed = [], {"image": 50_000, "continuation": 60_000}[kind]
    while len(specs) < count:
        seed += 1
        width, height = (int(v) for v in SIZES[len(specs) % len(SIZES)].split("x"))
        if kind == "image":
            split = "held_out" if len(specs) % 2 else "train"
            spec = sample_spec(seed, width, height, max(FRAME_COUNTS), split=split)
        else:
            spec = sample_spec(seed, width, height, CONTINUED_FRAMES, split="train", speed="slowly")
        if not bounces(spec):
            specs.append(spec)
    return specs


def near(centre, expected, tolerance: float = POSITION_TOLERANCE) -> bool:
    return centre is not None and float(np.hypot(*(np.asarray(centre) - np.asarray(expected)))) <= tolerance


def evaluate_image_to_video(pipeline, folder: Path, mode: str) -> tuple[list[dict], list]:
    """The first frame must show the image's object where it was; the clip then moves as captioned."""
    results, sheet_rows = [], []
    for index, spec in enumerate(conditioned_specs("image", CONDITIONED_CASES)):
        image = render(spec)[0]
        size = f"{spec.width}x{spec.height}"
        arguments = sampling_arguments(caption_for(spec), size, spec.num_frames, 2000 + index)
        frames = image_to_video(pipeline, image, mode, **arguments).frames[0]
        video_path = folder / f"image_{index}.mp4"
        write_video(video_path, frames, FPS)
        decoded = read_video(video_path)
        first_colour, first_centre = locate(decoded[0])
        analysis = analyze_frames(decoded)
        result = dict(
            size=size, caption=caption_for(spec), held_out=spec.combo in HELD_OUT, colour=spec.colour,
            direction=spec.direction, first_frame_centre=first_centre, found_colour=analysis.colour,
            found_direction=analysis.direction,
            first_frame_ok=first_colour == spec.colour and near(first_centre, centre_track(spec)[0], 3.0),
            colour_ok=analysis.colour == spec.colour, direction_ok=analysis.direction == spec.direction,
        )  # fmt: skip
        result["ok"] = result["first_frame_ok"] and result["colour_ok"] and result["direction_ok"]
        results.append(result)
        print(
            f"image    {result['caption']:78} -> {analysis.colour} {analysis.direction} {'✓' if result['ok'] else '✗'}"
        )
        if index < 3:
            sheet_rows.append((f"image + '{spec.colour} {spec.shape} {spec.direction}'\n-> {analysis.colour}, "
                               f"{analysis.direction}", frames))  # fmt: skip
    return results, sheet_rows


def evaluate_continuation(pipeline, folder: Path, mode: str) -> tuple[list[dict], list]:
    """A 17-frame clip is continued by 12 frames: colour, direction and the object's
    lawful position must carry across the join."""
    results, sheet_rows = [], []
    for index, spec in enumerate(conditioned_specs("continuation", CONDITIONED_CASES)):
        truth = render(spec)
        previous = truth[: max(FRAME_COUNTS)]
        size = f"{spec.width}x{spec.height}"
        arguments = sampling_arguments(caption_for(spec), size, max(FRAME_COUNTS), 3000 + index)
        new = continue_video(pipeline, previous, mode, **arguments).frames[0]
        joined = np.concatenate([previous.astype(np.float32) / 255.0, new[CONTINUATION_OVERLAP:]])
        video_path = folder / f"continuation_{index}.mp4"
        write_video(video_path, joined, FPS)
        continued = read_video(video_path)[len(previous) :]
        analysis = analyze_frames(continued)
        _, join_centre = locate(continued[0])
        result = dict(
            size=size, caption=caption_for(spec), colour=spec.colour, direction=spec.direction,
            join_centre=join_centre, lawful_centre=centre_track(spec)[len(previous)].tolist(),
            found_colour=analysis.colour, found_direction=analysis.direction,
            colour_ok=analysis.colour == spec.colour, direction_ok=analysis.direction == spec.direction,
            position_ok=near(join_centre, centre_track(spec)[len(previous)]),
        )  # fmt: skip
        result["ok"] = result["colour_ok"] and result["direction_ok"] and result["position_ok"]
        results.append(result)
        print(f"continue {result['caption']:78} -> {analysis.colour} {analysis.direction} "
              f"{join_centre} {'✓' if result['ok'] else '✗'}")  # fmt: skip
        if index < 3:
            sheet_rows.append((f"continue '{spec.colour} {spec.shape} {spec.direction}' (join at frame 17)\n-> "
                               f"{analysis.colour}, {analysis.direction}", np.asarray(joined)))  # fmt: skip
    return results, sheet_rows


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


def summarise_conditioned(image: list[dict], continuation: list[dict]) -> str:
    lines = ["| task | cases | passed | parts |", "|---|---|---|---|"]
    for name, results, parts in (
        ("image-to-video", image, ("first_frame", "colour", "direction")),
        ("continuation", continuation, ("colour", "direction", "position")),
    ):
        if results:
            detail = ", ".join(f"{part} {sum(r[f'{part}_ok'] for r in results)}/{len(results)}" for part in parts)
            lines.append(f"| {name} | {len(results)} | {100 * np.mean([r['ok'] for r in results]):.0f}% | {detail} |")
    return "\n".join(lines)


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


def evaluate_pipeline(pipeline, per_split: int) -> tuple[list[dict], list]:
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
    return results, sheet_rows


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
    parser.add_argument("--pipeline", type=Path, default=PIPELINE_DIR)
    parser.add_argument("--sheet", type=Path, help="contact sheet PNG (default: next to the pipeline folder)")
    parser.add_argument("--pin-mode", choices=["clean", "renoise"], default="clean")
    parser.add_argument("--skip", nargs="*", default=[], choices=["text", "image", "continuation"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipeline = load_pipeline(args.pipeline)
    print("VAE reconstruction accuracy (30 clips):", evaluate_vae(pipeline.vae, 30))
    if args.vae_only:
        return
    report, sheet_rows = {}, []
    if "text" not in args.skip:
        report["text_to_video"], rows = evaluate_pipeline(pipeline, args.per_split)
        sheet_rows += rows
        print(summarise(report["text_to_video"]))
    with tempfile.TemporaryDirectory() as folder:
        if "image" not in args.skip:
            report["image_to_video"], rows = evaluate_image_to_video(pipeline, Path(folder), args.pin_mode)
            sheet_rows += rows
        if "continuation" not in args.skip:
            report["continuation"], rows = evaluate_continuation(pipeline, Path(folder), args.pin_mode)
            sheet_rows += rows
    print(summarise_conditioned(report.get("image_to_video", []), report.get("continuation", [])))
    contact_sheet(sheet_rows, args.sheet or args.pipeline.parent / "contact_sheet.png")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
