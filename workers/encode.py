"""Frames -> MP4 (H.264, yuv420p, faststart), a WebP thumbnail and a JPEG spritesheet."""

import math
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image


SPRITE_FRAMES = 12
SPRITE_COLUMNS = 4


class EncodeError(RuntimeError):
    """ffmpeg could not write the video."""


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """(F, H, W, 3) floats in [0, 1] -> uint8, rounding rather than truncating."""
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


def write_mp4(frames: np.ndarray, fps: int, target: Path) -> None:
    num_frames, height, width, _ = frames.shape
    try:
        writer = imageio_ffmpeg.write_frames(
            str(target),
            (width, height),
            fps=fps,
            codec="libx264",
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            quality=None,
            # yuv420p only needs even sides; the default 16 would resize odd-sized requests.
            macro_block_size=2,
            output_params=["-crf", "17", "-preset", "veryfast", "-movflags", "+faststart"],
            ffmpeg_log_level="error",
        )
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
    except (OSError, RuntimeError, BrokenPipeError) as exc:
        raise EncodeError(f"ffmpeg failed writing {num_frames} frames of {width}x{height}: {exc}") from exc
    if not target.is_file() or target.stat().st_size == 0:
        raise EncodeError("ffmpeg produced no output")


def write_thumbnail(frames: np.ndarray, target: Path) -> None:
    Image.fromarray(frames[len(frames) // 2]).save(target, format="WEBP", quality=90)


def write_spritesheet(frames: np.ndarray, target: Path) -> None:
    """Evenly spaced frames in a grid: the whole clip at a glance."""
    count = min(SPRITE_FRAMES, len(frames))
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    columns = min(SPRITE_COLUMNS, count)
    rows = math.ceil(count / columns)
    height, width = frames.shape[1:3]
    sheet = Image.new("RGB", (columns * width, rows * height))
    for slot, index in enumerate(picks):
        sheet.paste(Image.fromarray(frames[index]), ((slot % columns) * width, (slot // columns) * height))
    sheet.save(target, format="JPEG", quality=90)


def write_outputs(frames: np.ndarray, fps: int, directory: Path) -> dict[str, Path]:
    frames = to_uint8(frames)
    outputs = {
        "video": directory / "video.mp4",
        "thumbnail": directory / "thumbnail.webp",
        "spritesheet": directory / "spritesheet.jpg",
    }
    write_mp4(frames, fps, outputs["video"])
    write_thumbnail(frames, outputs["thumbnail"])
    write_spritesheet(frames, outputs["spritesheet"])
    return outputs
