"""Inputs are stored with their video: attempt 0 of its storage (every render attempt reads
them; deleting the video deletes them)."""

import tempfile
from pathlib import Path

from app.storage import Storage


# No render attempt is numbered 0 (the first claim makes it 1).
INPUTS_ATTEMPT = 0


def store_inputs(storage: Storage, video_id: str, inputs: dict[str, bytes]) -> None:
    """`inputs`: storage variant (`input_image`, `input_video`, `reference_image`) -> bytes."""
    if not inputs:
        return
    with tempfile.TemporaryDirectory(prefix="t2v-inputs-") as scratch:
        files = {}
        for variant, data in inputs.items():
            path = Path(scratch) / variant
            path.write_bytes(data)
            files[variant] = path
        storage.put(video_id, INPUTS_ATTEMPT, files)
