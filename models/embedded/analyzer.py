"""Measure what a generated clip shows: the object's colour, direction and shape.

Works on raw frames or on an MP4 file, with no model involved, so it can judge
both the world's ground truth and the pipeline's samples the same way.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.embedded.world import COLOURS, DIRECTIONS


# Below this many pixels of travel over the clip the object counts as static.
MIN_TRAVEL_PIXELS = 3.0
MIN_OBJECT_PIXELS = 6


@dataclass(frozen=True)
class Analysis:
    colour: str | None
    direction: str | None  # one of world.DIRECTIONS, "static", or None if no object
    shape: str | None
    track: np.ndarray  # (frames, 2) centroid x, y; NaN where no object was found
    travel: tuple[float, float]  # fitted displacement over the whole clip, pixels


def _border_median(frame: np.ndarray) -> np.ndarray:
    border = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]])
    return np.median(border, axis=0)


def _component_from_peak(mask: np.ndarray, peak: tuple[int, int]) -> np.ndarray:
    """4-connected component of `mask` containing `peak`: drops stray speckles."""
    component = np.zeros_like(mask)
    queue = deque([peak])
    component[peak] = True
    height, width = mask.shape
    while queue:
        y, x = queue.popleft()
        for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= ny < height and 0 <= nx < width and mask[ny, nx] and not component[ny, nx]:
                component[ny, nx] = True
                queue.append((ny, nx))
    return component


def _object_mask(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (mask of the object, per-pixel distance from the background colour)."""
    distance = np.abs(frame - _border_median(frame)).max(axis=-1)
    peak_value = distance.max()
    if peak_value < 25:
        return np.zeros(distance.shape, bool), distance
    # Half the peak contrast: the anti-aliased edge sits right at the true outline.
    mask = distance > 0.5 * peak_value
    peak = np.unravel_index(np.argmax(distance), distance.shape)
    return _component_from_peak(mask, peak), distance


def nearest_colour(rgb: np.ndarray) -> str:
    palette = np.array(list(COLOURS.values()), np.float32)
    return list(COLOURS)[int(np.argmin(((palette - rgb) ** 2).sum(axis=1)))]


def classify_direction(travel_x: float, travel_y: float) -> str:
    if math.hypot(travel_x, travel_y) < MIN_TRAVEL_PIXELS:
        return "static"
    angle = math.atan2(travel_y, travel_x)
    return min(
        DIRECTIONS,
        key=lambda name: abs(math.remainder(angle - math.atan2(DIRECTIONS[name][1], DIRECTIONS[name][0]), math.tau)),
    )


def classify_shape(mask: np.ndarray) -> str:
    """Fill ratio of the bounding box separates squares (1.0) from circles (0.79);
    triangles (0.5) also carry their mass low, away from the apex."""
    ys, xs = np.nonzero(mask)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    fill = mask.sum() / ((bottom - top) * (right - left))
    centre_offset = (ys.mean() + 0.5 - (top + bottom) / 2) / (bottom - top)
    if fill < 0.64 or centre_offset > 0.08:
        return "triangle"
    return "square" if fill > 0.88 else "circle"


def locate(frame: np.ndarray) -> tuple[str | None, tuple[float, float] | None]:
    """Colour and centroid (x, y) of the object in one frame, or (None, None)."""
    frame = np.asarray(frame, np.float32)
    if frame.max() <= 1.0:
        frame = frame * 255.0
    mask, distance = _object_mask(frame)
    if mask.sum() < MIN_OBJECT_PIXELS:
        return None, None
    ys, xs = np.nonzero(mask)
    core = mask & (distance > 0.8 * distance[mask].max())
    return nearest_colour(np.median(frame[core], axis=0)), (float(xs.mean() + 0.5), float(ys.mean() + 0.5))


def analyze_frames(frames: np.ndarray) -> Analysis:
    """frames: (T, H, W, 3) uint8 or float in [0, 1]."""
    frames = np.asarray(frames, np.float32)
    if frames.max() <= 1.0:
        frames = frames * 255.0
    track = np.full((len(frames), 2), np.nan, np.float32)
    colours, shapes = [], []
    for index, frame in enumerate(frames):
        mask, distance = _object_mask(frame)
        if mask.sum() < MIN_OBJECT_PIXELS:
            continue
        ys, xs = np.nonzero(mask)
        track[index] = (xs.mean() + 0.5, ys.mean() + 0.5)
        # The object's core (well inside the outline) has its pure colour.
        core = mask & (distance > 0.8 * distance[mask].max())
        colours.append(nearest_colour(np.median(frame[core], axis=0)))
        shapes.append(classify_shape(mask))
    found = ~np.isnan(track[:, 0])
    if found.sum() < 2:
        return Analysis(None, None, None, track, (0.0, 0.0))
    times = np.nonzero(found)[0].astype(np.float32)
    slope_x = np.polyfit(times, track[found, 0], 1)[0]
    slope_y = np.polyfit(times, track[found, 1], 1)[0]
    travel = (float(slope_x * (len(frames) - 1)), float(slope_y * (len(frames) - 1)))
    return Analysis(
        colour=Counter(colours).most_common(1)[0][0],
        direction=classify_direction(*travel),
        shape=Counter(shapes).most_common(1)[0][0],
        track=track,
        travel=travel,
    )


def write_video(path: str | Path, frames: np.ndarray, fps: int) -> None:
    """Encode frames exactly as the server does for users (H.264, yuv420p)."""
    from workers.encode import to_uint8, write_mp4

    frames = np.asarray(frames)
    write_mp4(frames if frames.dtype == np.uint8 else to_uint8(frames), fps, Path(path))


def read_video(path: str | Path) -> np.ndarray:
    import imageio.v2 as imageio

    with imageio.get_reader(path, format="ffmpeg") as reader:
        return np.stack([frame for frame in reader])


def analyze_video(path: str | Path) -> Analysis:
    return analyze_frames(read_video(path))
