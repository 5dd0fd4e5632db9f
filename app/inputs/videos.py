"""An input video (an uploaded MP4): probed and decoded with the bundled ffmpeg before it is
accepted, so a bad file is a 400 now, not a failed render later."""

import tempfile
from dataclasses import dataclass

import imageio_ffmpeg
import numpy as np

from app.errors import InvalidRequest, PayloadTooLarge


# Codecs ffmpeg decodes that cameras, phones and generators write.
CODECS = ("h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "prores", "mjpeg")


@dataclass(frozen=True)
class InputVideo:
    data: bytes
    codec: str
    width: int
    height: int
    fps: float
    frames: int
    seconds: float


@dataclass(frozen=True)
class VideoLimits:
    max_bytes: int
    max_seconds: float
    max_frames: int
    max_side: int


def _bad(param: str, message: str, code: str = "invalid_video") -> InvalidRequest:
    return InvalidRequest(f"{param}: {message}", param=param, code=code)


def check_video(data: bytes, param: str, limits: VideoLimits) -> InputVideo:
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(
            f"{param}: the video is {len(data)} bytes; at most {limits.max_bytes} are accepted",
            param=param,
            code="video_too_large",
        )
    if not data:
        raise _bad(param, "the video is empty")
    with tempfile.NamedTemporaryFile(suffix=".mp4") as handle:
        handle.write(data)
        handle.flush()
        try:
            reader = imageio_ffmpeg.read_frames(handle.name)
            meta = next(reader)
        except (RuntimeError, OSError, StopIteration) as exc:
            raise _bad(param, f"not a decodable video: {str(exc).strip().splitlines()[-1:]}") from None
        try:
            codec = str(meta.get("codec", "")).split()[0].lower() if meta.get("codec") else ""
            if codec not in CODECS:
                raise _bad(
                    param,
                    f"codec {codec or 'unknown'!r} is not supported; use one of {', '.join(CODECS)}",
                    "unsupported_codec",
                )
            width, height = meta["size"]
            if max(width, height) > limits.max_side:
                raise PayloadTooLarge(
                    f"{param}: the video is {width}x{height}; sides of at most {limits.max_side} are accepted",
                    param=param,
                    code="video_too_large",
                )
            duration = float(meta.get("duration") or 0.0)
            if duration > limits.max_seconds:
                raise PayloadTooLarge(
                    f"{param}: the video lasts {duration:g} s; at most {limits.max_seconds:g} s are accepted",
                    param=param,
                    code="video_too_large",
                )
            # Decoding every frame proves the file is whole and counts what it really holds.
            frames = 0
            for _ in reader:
                frames += 1
                if frames > limits.max_frames:
                    raise PayloadTooLarge(
                        f"{param}: the video has more than {limits.max_frames} frames",
                        param=param,
                        code="video_too_large",
                    )
        except RuntimeError as exc:
            raise _bad(param, f"the video does not decode: {str(exc).strip().splitlines()[-1:]}") from None
        finally:
            reader.close()
    if frames == 0:
        raise _bad(param, "the video holds no frames")
    fps = float(meta.get("fps") or 0.0) or frames / max(duration, 1e-6)
    return InputVideo(data, codec, width, height, fps, frames, duration or frames / fps)


def sample_frames(data: bytes, count: int) -> np.ndarray:
    """Up to `count` frames spread over an (already checked) video, (N, H, W, 3) uint8."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as handle:
        handle.write(data)
        handle.flush()
        reader = imageio_ffmpeg.read_frames(handle.name, pix_fmt="rgb24")
        meta = next(reader)
        width, height = meta["size"]
        frames = [np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3) for raw in reader]
    step = max(1, len(frames) // count)
    return np.stack(frames[::step][:count])
