"""Finished chunks in storage: each chunk's final latents (safetensors) and the frames it
delivers (uint8 .npy, read back without pickle), under the video's work files. The record's
`long_video.done` counts the chunks stored, so a worker that takes over resumes after them.

The latents of the last chunk stay after the video completes (`tail`): an extension continues
from them. The frames go: the MP4 holds them.
"""

import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from app.storage import Storage


TAIL_LATENTS = "tail.safetensors"


def latents_name(chunk: int) -> str:
    return f"chunk-{int(chunk):04d}-latents.safetensors"


def frames_name(chunk: int) -> str:
    return f"chunk-{int(chunk):04d}-frames.npy"


class Checkpoints:
    def __init__(self, storage: Storage, video_id: str):
        self.storage = storage
        self.video_id = video_id

    def save(self, chunk: int, latents: torch.Tensor, frames: np.ndarray) -> None:
        """Store a chunk; the frames last, so a chunk whose frames exist is whole."""
        with tempfile.TemporaryDirectory(prefix="t2v-chunk-") as scratch:
            latents_path = Path(scratch) / "latents.safetensors"
            save_file({"latents": latents.detach().to("cpu", torch.float32).contiguous()}, latents_path)
            self.storage.put_work(self.video_id, latents_name(chunk), latents_path)
            frames_path = Path(scratch) / "frames.npy"
            np.save(frames_path, np.ascontiguousarray(frames, dtype=np.uint8), allow_pickle=False)
            self.storage.put_work(self.video_id, frames_name(chunk), frames_path)

    def latents(self, chunk: int) -> torch.Tensor:
        return self._read_latents(latents_name(chunk))

    def frames(self, chunk: int) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="t2v-chunk-") as scratch:
            path = Path(scratch) / "frames.npy"
            if not self.storage.get_work(self.video_id, frames_name(chunk), path):
                raise FileNotFoundError(f"chunk {chunk} of {self.video_id} has no stored frames")
            return np.load(path, allow_pickle=False)

    def keep_tail(self, last_chunk: int, chunks: int) -> None:
        """After the video is encoded: keep the last chunk's latents as the tail, drop the rest."""
        with tempfile.TemporaryDirectory(prefix="t2v-chunk-") as scratch:
            path = Path(scratch) / "tail.safetensors"
            if self.storage.get_work(self.video_id, latents_name(last_chunk), path):
                self.storage.put_work(self.video_id, TAIL_LATENTS, path)
        for chunk in range(chunks):
            self.storage.delete_work(self.video_id, latents_name(chunk))
            self.storage.delete_work(self.video_id, frames_name(chunk))

    def save_tail(self, latents: torch.Tensor) -> None:
        with tempfile.TemporaryDirectory(prefix="t2v-chunk-") as scratch:
            path = Path(scratch) / "tail.safetensors"
            save_file({"latents": latents.detach().to("cpu", torch.float32).contiguous()}, path)
            self.storage.put_work(self.video_id, TAIL_LATENTS, path)

    def tail(self) -> torch.Tensor | None:
        try:
            return self._read_latents(TAIL_LATENTS)
        except FileNotFoundError:
            return None

    def _read_latents(self, name: str) -> torch.Tensor:
        with tempfile.TemporaryDirectory(prefix="t2v-chunk-") as scratch:
            path = Path(scratch) / "latents.safetensors"
            if not self.storage.get_work(self.video_id, name, path):
                raise FileNotFoundError(f"{self.video_id} has no stored {name}")
            return load_file(path)["latents"]
