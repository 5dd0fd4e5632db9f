"""A tiny synthetic world: one coloured shape gliding over a plain background,
bouncing off the frame's edges (angle of incidence = angle of reflection).

Clips are a pure function of a seed, so training data, held-out splits and test
fixtures can be regenerated anywhere without storing video files.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np


# Saturated, well separated hues so that colour remains identifiable after a
# lossy VAE and an H.264 round trip.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 40, 40),
    "green": (40, 190, 60),
    "blue": (45, 85, 235),
    "yellow": (235, 215, 45),
    "cyan": (40, 200, 215),
    "pink": (235, 80, 190),
}
SHAPES = ("circle", "square", "triangle")
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "black": (12, 12, 14),
    "dark grey": (48, 48, 52),
    "grey": (96, 96, 100),
}
# Unit steps in image coordinates (y grows downwards).
DIRECTIONS: dict[str, tuple[int, int]] = {
    "left": (-1, 0),
    "right": (1, 0),
    "up": (0, -1),
    "down": (0, 1),
    "up-left": (-1, -1),
    "up-right": (1, -1),
    "down-left": (-1, 1),
    "down-right": (1, 1),
}
# Pixels per frame along the direction of travel.
SPEEDS = {"slowly": 1.25, "quickly": 2.25}
# Object diameter as a fraction of the frame height.
OBJECT_SIZES = {"small": 0.25, "large": 0.36}

# Combinations never shown during training, used to measure generalisation.
# Each colour, shape and cardinal direction appears at least once.
HELD_OUT: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("red", "triangle", "left"),
        ("green", "circle", "up"),
        ("blue", "square", "right"),
        ("yellow", "circle", "down"),
        ("cyan", "triangle", "right"),
        ("pink", "square", "up"),
        ("blue", "triangle", "down-left"),
        ("yellow", "square", "up-right"),
    }
)

FPS = 8


@dataclass(frozen=True)
class ClipSpec:
    colour: str
    shape: str
    direction: str
    speed: str
    size: str
    background: str
    width: int
    height: int
    num_frames: int
    start_x: float
    start_y: float

    @property
    def combo(self) -> tuple[str, str, str]:
        return (self.colour, self.shape, self.direction)


def velocity(spec: ClipSpec) -> tuple[float, float]:
    dx, dy = DIRECTIONS[spec.direction]
    norm = math.hypot(dx, dy)
    speed = SPEEDS[spec.speed]
    return dx / norm * speed, dy / norm * speed


def object_radius(size: str, height: int) -> float:
    return OBJECT_SIZES[size] * height / 2


def sample_spec(
    seed: int,
    width: int = 64,
    height: int = 64,
    num_frames: int = 17,
    split: str = "train",
    bounce: bool = False,
    **fixed: str,
) -> ClipSpec:
    """Draw a clip description; `fixed` pins attributes (colour=..., shape=...).

    By default the start is chosen so the whole path stays in frame without a bounce
    (the captioned direction is then the direction of the whole clip); with
    bounce=True the start is anywhere, and the object may bounce off an edge.

    split="train" rejects held-out combinations, split="held_out" only yields them,
    split="any" accepts everything.
    """
    rng = random.Random(seed)
    while True:
        attrs = {
            "colour": rng.choice(list(COLOURS)),
            "shape": rng.choice(SHAPES),
            "direction": rng.choice(list(DIRECTIONS)),
            "speed": rng.choice(list(SPEEDS)),
            "size": rng.choice(list(OBJECT_SIZES)),
            "background": rng.choice(list(BACKGROUNDS)),
        }
        if split == "held_out" and not fixed:
            attrs["colour"], attrs["shape"], attrs["direction"] = rng.choice(sorted(HELD_OUT))
        attrs.update(fixed)
        combo = (attrs["colour"], attrs["shape"], attrs["direction"])
        if split == "train" and combo in HELD_OUT:
            continue
        break
    radius = object_radius(attrs["size"], height)
    dummy = ClipSpec(**attrs, width=width, height=height, num_frames=num_frames, start_x=0, start_y=0)
    vx, vy = velocity(dummy)
    travel_x, travel_y = vx * (num_frames - 1), vy * (num_frames - 1)
    if bounce:
        travel_x = travel_y = 0.0
    margin = radius + 1.5
    # Choose a start so the whole trajectory stays inside the frame.
    lo_x, hi_x = margin - min(travel_x, 0), width - margin - max(travel_x, 0)
    lo_y, hi_y = margin - min(travel_y, 0), height - margin - max(travel_y, 0)
    start_x = rng.uniform(lo_x, hi_x) if hi_x > lo_x else width / 2 - travel_x / 2
    start_y = rng.uniform(lo_y, hi_y) if hi_y > lo_y else height / 2 - travel_y / 2
    return ClipSpec(**attrs, width=width, height=height, num_frames=num_frames, start_x=start_x, start_y=start_y)


def _signed_distance(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Positive inside the shape, in pixels, so edges can be anti-aliased."""
    if shape == "circle":
        return radius - np.hypot(dx, dy)
    if shape == "square":
        half = radius * 0.9  # equal area-ish footprint to the circle
        return half - np.maximum(np.abs(dx), np.abs(dy))
    if shape == "triangle":
        # Upward-pointing equilateral triangle, enlarged so its area is close to the circle's.
        r = radius * 1.4
        distances = []
        for angle in (90.0, 210.0, 330.0):
            nx, ny = math.cos(math.radians(angle)), -math.sin(math.radians(angle))
            # Edge opposite a vertex sits at distance r/2 from the centre.
            distances.append(r / 2 - (dx * -nx + dy * -ny))
        return np.minimum.reduce(distances)
    raise ValueError(f"unknown shape {shape!r}")


def _reflect(position: np.ndarray, low: float, high: float) -> np.ndarray:
    """Fold a free straight-line coordinate into [low, high] by mirror reflections."""
    span = high - low
    phase = np.mod(position - low, 2 * span)
    return low + np.where(phase <= span, phase, 2 * span - phase)


def centre_track(spec: ClipSpec) -> np.ndarray:
    """Object centre per frame, shape (num_frames, 2) as (x, y): a straight line that
    reflects off the frame's edges, where the object's outline touches them."""
    vx, vy = velocity(spec)
    steps = np.arange(spec.num_frames, dtype=np.float64)
    margin = object_radius(spec.size, spec.height) + 1.5
    xs = _reflect(spec.start_x + vx * steps, margin, spec.width - margin)
    ys = _reflect(spec.start_y + vy * steps, margin, spec.height - margin)
    return np.stack([xs, ys], axis=1).astype(np.float32)


def render(spec: ClipSpec) -> np.ndarray:
    """Return uint8 frames of shape (num_frames, height, width, 3)."""
    ys, xs = np.mgrid[0 : spec.height, 0 : spec.width].astype(np.float32) + 0.5
    colour = np.array(COLOURS[spec.colour], np.float32)
    background = np.array(BACKGROUNDS[spec.background], np.float32)
    radius = object_radius(spec.size, spec.height)
    frames = np.empty((spec.num_frames, spec.height, spec.width, 3), np.uint8)
    for index, (cx, cy) in enumerate(centre_track(spec)):
        alpha = np.clip(_signed_distance(spec.shape, xs - cx, ys - cy, radius) + 0.5, 0.0, 1.0)[..., None]
        frames[index] = np.round(background + alpha * (colour - background)).astype(np.uint8)
    return frames
