"""Colour statistics matching at a join (AdaIN on pixels).

The first frames of chunk i+1 show the same moment as the last frames of chunk i (they decode
the pinned latents). Whatever drift in brightness or colour the new chunk picked up shows as a
difference between the two; shifting and scaling each channel of the whole new chunk so its
overlap has the statistics of the previous chunk's end removes it before it can accumulate.
"""

import numpy as np


# A join never rescales contrast by more than this factor either way: beyond it the overlap
# is not the same picture any more (a scene change) and matching would do harm.
MAX_GAIN = 2.0
EPSILON = 1e-4
ROUND_DECIMALS = 6


def match_statistics(frames: np.ndarray, overlap: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`frames` (F, H, W, 3) in [0, 1], adjusted per channel so that `overlap` (their first frames)
    would have the mean and spread of `reference` (the previous chunk's last frames)."""
    mean_new, std_new = _stats(overlap)
    mean_ref, std_ref = _stats(reference)
    gain = np.clip(std_ref / std_new, 1 / MAX_GAIN, MAX_GAIN)
    shift = mean_ref - mean_new * gain
    return np.clip(frames * gain.astype(np.float32) + shift.astype(np.float32), 0.0, 1.0)


def _stats(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and spread, rounded: numpy's float sums depend on memory alignment, and a
    resumed render must make exactly the frames an uninterrupted one makes."""
    pixels = frames.reshape(-1, frames.shape[-1]).astype(np.float64)
    mean, std = pixels.mean(axis=0), pixels.std(axis=0) + EPSILON
    return np.round(mean, ROUND_DECIMALS), np.round(std, ROUND_DECIMALS)
