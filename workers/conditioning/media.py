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


def _raw_frames(data: bytes):
    """An encoded video's frames as uint8 arrays (H, W, 3) at its own size, decoded one by one."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as handle:
        handle.write(data)
        handle.flush()
        reader = imageio_ffmpeg.read_frames(handle.name, pix_fmt="rgb24")
        try:
            meta = next(reader)
            src_w, src_h = meta["size"]
            for raw in reader:
                yield np.frombuffer(raw, dtype=np.uint8).reshape(src_h, src_w, 3)
        finally:
            reader.close()


def _fitted(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(fit_image(Image.fromarray(pixels), width, height), dtype=np.float32) / 255.0


def video_frames(data: bytes, width: int, height: int, max_frames: int | None = None) -> np.ndarray:
    """An encoded video -> its frames (F, H, W, 3), each fitted like an image."""
    frames = []
    for pixels in _raw_frames(data):
        frames.append(_fitted(pixels, width, height))
        if max_frames is not None and len(frames) >= max_frames:
            break
    if not frames:
        raise ValueError("the video holds no frames")
    return np.stack(frames)


def video_window(data: bytes, width: int, height: int, start: int, count: int) -> np.ndarray:
    """Frames `start` .. `start + count` of the video looped as `to_length` loops it, fitted; only
    those are kept, so a long source is never held whole (one chunk of a long re-draw)."""
    window: list[np.ndarray] = []
    index = 0
    while len(window) < count:
        passed = index
        for pixels in _raw_frames(data):
            if index >= start:
                window.append(_fitted(pixels, width, height))
                if len(window) == count:
                    break
            index += 1
        if index == passed and len(window) < count:
            raise ValueError("the video holds no frames")
    return np.stack(window)


def to_length(frames: np.ndarray, count: int) -> np.ndarray:
    """Cut or loop `frames` to exactly `count` frames."""
    if len(frames) >= count:
        return frames[:count]
    reps = -(-count // len(frames))
    return np.concatenate([frames] * reps)[:count]
