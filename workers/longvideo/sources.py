"""Frames a long video takes from finished videos: the video an extension continues (its frames
come first, its tail conditions the first chunk) and the video a transition leads into (its
first frames close the bridge, its frames come last). Both are read from storage as MP4 and
streamed, never held whole.

A source this server made keeps its final latents (`tail.safetensors`): when they fit the
render, the first chunk continues from them, exactly as a chunk continues its predecessor.
Otherwise (an upload, another model) the tail is re-encoded from the source's last frames.
"""

import tempfile
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch
from PIL import Image

from app.storage import Storage
from workers.longvideo.checkpoint import Checkpoints


# Inputs are stored with the video they condition, at this attempt (app/inputs/store.py).
INPUTS_ATTEMPT = 0


def resized(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """uint8 frames (F, H, W, 3) at width x height (lanczos), unchanged when they already are."""
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack([np.asarray(Image.fromarray(f).resize((width, height), Image.Resampling.LANCZOS)) for f in frames])


class SourceVideo:
    """A finished MP4 in storage, named by `ref`: `{"input": "input_video"}` is the copy stored
    with the video being made (an extension's source, an upload); `{"video_id", "attempt"}` is
    another video's file. `ref["video_id"]`, when given, is where final latents may be kept."""

    def __init__(self, storage: Storage, owner_id: str, ref: dict):
        self.storage = storage
        self.ref = ref
        self.frames = int(ref["frames"])
        self._scratch = tempfile.TemporaryDirectory(prefix="t2v-source-")
        self.path = Path(self._scratch.name) / "source.mp4"
        if ref.get("input"):
            data = storage.read_bytes(owner_id, INPUTS_ATTEMPT, ref["input"])
        else:
            data = storage.read_bytes(ref["video_id"], ref["attempt"], "video")
        self.path.write_bytes(data)

    def close(self) -> None:
        self._scratch.cleanup()

    def stream(self, batch: int = 16) -> Iterator[np.ndarray]:
        """The source's frames, `batch` at a time, uint8 at its own size."""
        reader = imageio_ffmpeg.read_frames(str(self.path), pix_fmt="rgb24")
        width, height = next(reader)["size"]
        pending, sent = [], 0
        for raw in reader:
            if sent + len(pending) >= self.frames:
                break
            pending.append(np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3))
            if len(pending) == batch:
                yield np.stack(pending)
                sent, pending = sent + len(pending), []
        reader.close()
        if pending:
            yield np.stack(pending)

    def head(self, count: int) -> np.ndarray:
        frames = []
        for batch in self.stream():
            frames.extend(batch)
            if len(frames) >= count:
                break
        return np.stack(frames[:count])

    def tail(self, count: int) -> np.ndarray:
        kept: list[np.ndarray] = []
        for batch in self.stream():
            kept = [*kept, *batch][-count:]
        return np.stack(kept)

    def tail_latents(self, shape: tuple[int, ...]) -> torch.Tensor | None:
        """The source's final latents when it is ours and they fit a render of `shape`."""
        if not self.ref.get("video_id"):
            return None
        latents = Checkpoints(self.storage, self.ref["video_id"]).tail()
        if latents is None or latents.shape[1] != shape[1] or latents.shape[3:] != tuple(shape[3:]):
            return None
        return latents
