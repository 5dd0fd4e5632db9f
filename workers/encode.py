"""Frames -> MP4 (H.264, yuv420p, faststart), a WebP thumbnail and a JPEG spritesheet.

`VideoEncoder` takes frames in pieces and streams them into one ffmpeg process, so a long video
never sits in memory whole: it keeps only the frames the thumbnail and spritesheet need. When the
delivered size differs from the rendered one, ffmpeg's lanczos scaler resizes while encoding.
"""

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


def sprite_indices(num_frames: int) -> list[int]:
    count = min(SPRITE_FRAMES, num_frames)
    return np.linspace(0, num_frames - 1, count).round().astype(int).tolist()


class VideoEncoder:
    """One ffmpeg encoder fed piece by piece: `write(frames)` any number of times, then `close()`.

    `size` is the rendered (width, height) of the frames written; `output_size` the delivered one.
    """

    def __init__(self, target: Path, fps: int, size: tuple[int, int], total_frames: int, output_size=None):
        self.target = Path(target)
        self.size = size
        self.output_size = tuple(output_size or size)
        self.total_frames = total_frames
        self.written = 0
        # Only the frames the thumbnail (the middle one) and the spritesheet show are kept.
        self._kept: dict[int, np.ndarray] = {}
        self._wanted = set(sprite_indices(total_frames)) | {total_frames // 2}
        output_params = ["-crf", "17", "-preset", "veryfast", "-movflags", "+faststart"]
        if self.output_size != tuple(size):
            width, height = self.output_size
            output_params = ["-vf", f"scale={width}:{height}:flags=lanczos", *output_params]
        try:
            self._writer = imageio_ffmpeg.write_frames(
                str(self.target),
                size,
                fps=fps,
                codec="libx264",
                pix_fmt_in="rgb24",
                pix_fmt_out="yuv420p",
                quality=None,
                # yuv420p only needs even sides; the default 16 would resize odd-sized requests.
                macro_block_size=2,
                output_params=output_params,
                ffmpeg_log_level="error",
            )
            self._writer.send(None)
        except (OSError, RuntimeError, BrokenPipeError) as exc:
            raise EncodeError(f"ffmpeg failed to start for {size[0]}x{size[1]}: {exc}") from exc

    def write(self, frames: np.ndarray) -> None:
        """Append (F, H, W, 3) frames: uint8, or floats in [0, 1]; frames of another size than the
        encoder's input are scaled to it (lanczos)."""
        if frames.dtype != np.uint8:
            frames = to_uint8(frames)
        width, height = self.size
        if frames.shape[1:3] != (height, width):
            frames = np.stack(
                [np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.LANCZOS)) for f in frames]
            )
        try:
            for frame in frames:
                if self.written in self._wanted:
                    self._kept[self.written] = frame.copy()
                self._writer.send(np.ascontiguousarray(frame))
                self.written += 1
        except (OSError, RuntimeError, BrokenPipeError) as exc:
            raise EncodeError(f"ffmpeg failed at frame {self.written} of {self.size[0]}x{self.size[1]}: {exc}") from exc

    def close(self) -> None:
        try:
            self._writer.close()
        except (OSError, RuntimeError, BrokenPipeError) as exc:
            raise EncodeError(f"ffmpeg failed finishing {self.written} frames: {exc}") from exc
        if not self.target.is_file() or self.target.stat().st_size == 0:
            raise EncodeError("ffmpeg produced no output")

    def _scaled(self, frame: np.ndarray) -> Image.Image:
        image = Image.fromarray(frame)
        return image if image.size == self.output_size else image.resize(self.output_size, Image.Resampling.LANCZOS)

    def finish(self, directory: Path) -> dict[str, Path]:
        """Close the video and write the thumbnail and spritesheet next to it."""
        self.close()
        if self.written != self.total_frames:
            raise EncodeError(f"the encoder was promised {self.total_frames} frames but got {self.written}")
        outputs = {
            "video": self.target,
            "thumbnail": directory / "thumbnail.webp",
            "spritesheet": directory / "spritesheet.jpg",
        }
        self._scaled(self._kept[self.total_frames // 2]).save(outputs["thumbnail"], format="WEBP", quality=90)
        sprites = [self._scaled(self._kept[i]) for i in sprite_indices(self.total_frames)]
        columns = min(SPRITE_COLUMNS, len(sprites))
        rows = math.ceil(len(sprites) / columns)
        width, height = self.output_size
        sheet = Image.new("RGB", (columns * width, rows * height))
        for slot, sprite in enumerate(sprites):
            sheet.paste(sprite, ((slot % columns) * width, (slot // columns) * height))
        sheet.save(outputs["spritesheet"], format="JPEG", quality=90)
        return outputs


def write_mp4(frames: np.ndarray, fps: int, target: Path) -> None:
    num_frames, height, width, _ = frames.shape
    encoder = VideoEncoder(target, fps, (width, height), num_frames)
    encoder.write(frames)
    encoder.close()


def write_outputs(frames: np.ndarray, fps: int, directory: Path, output_size=None) -> dict[str, Path]:
    """Encode all `frames` at once (scaled to `output_size` (width, height) when given)."""
    num_frames, height, width, _ = frames.shape
    encoder = VideoEncoder(directory / "video.mp4", fps, (width, height), num_frames, output_size)
    encoder.write(frames)
    return encoder.finish(directory)
