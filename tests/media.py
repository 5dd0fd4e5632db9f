"""Decode what the server produced, with the same ffmpeg the server uses."""

import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np


def decode_mp4(data: bytes) -> np.ndarray:
    """MP4 bytes -> (frames, height, width, 3) uint8."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as handle:
        handle.write(data)
        handle.flush()
        reader = imageio_ffmpeg.read_frames(handle.name)
        meta = reader.__next__()
        width, height = meta["size"]
        frames = [np.frombuffer(f, dtype=np.uint8).reshape(height, width, 3) for f in reader]
    return np.stack(frames)


def probe_codec(path: Path) -> str:
    """ffmpeg's description of the first video stream (codec, pixel format)."""
    import subprocess

    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    )
    return next((line for line in result.stderr.splitlines() if "Video:" in line), "")
