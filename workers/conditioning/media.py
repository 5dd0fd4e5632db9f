"""Stored input bytes -> frames the sampler can use: (F, H, W, 3) floats in [0, 1] at the
render's size (resized to cover, then centre-cropped, so nothing is stretched)."""

import io
import tempfile

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageOps


def fit_image(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover width x height, then cut the middle out (the API warns when this happens)."""
    image = ImageOps.exif_transpose(image).convert("RGB")
    if image.size == (width, height):
        return image
    return ImageOps.fit(image, (width, height), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def image_frames(data: bytes, width: int, height: int) -> np.ndarray:
    """An encoded image -> one frame (1, H, W, 3)."""
    with Image.open(io.BytesIO(data)) as image:
        fitted = fit_image(image, width, height)
    return (np.asarray(fitted, dtype=np.float32) / 255.0)[None]


def video_frames(data: bytes, width: int, height: int, max_frames: int | None = None) -> np.ndarray:
    """An encoded video -> its frames (F, H, W, 3), each fitted like an image."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as handle:
        handle.write(data)
        handle.flush()
        reader = imageio_ffmpeg.read_frames(handle.name, pix_fmt="rgb24")
        meta = next(reader)
        src_w, src_h = meta["size"]
        frames = []
        for raw in reader:
            pixels = np.frombuffer(raw, dtype=np.uint8).reshape(src_h, src_w, 3)
            frames.append(np.asarray(fit_image(Image.fromarray(pixels), width, height), dtype=np.float32) / 255.0)
            if max_frames is not None and len(frames) >= max_frames:
                reader.close()
                break
    if not frames:
        raise ValueError("the video holds no frames")
    return np.stack(frames)


def to_length(frames: np.ndarray, count: int) -> np.ndarray:
    """Cut or loop `frames` to exactly `count` frames."""
    if len(frames) >= count:
        return frames[:count]
    reps = -(-count // len(frames))
    return np.concatenate([frames] * reps)[:count]
