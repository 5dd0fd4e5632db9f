"""The analyzer must read the world's own ground truth correctly, also through H.264,
before its verdicts on generated videos mean anything."""

import numpy as np
import pytest

from models.embedded.analyzer import analyze_frames, analyze_video, classify_direction, write_video
from models.embedded.world import DIRECTIONS, FPS, ClipSpec, render, sample_spec


BUCKETS = [(64, 64, 17), (96, 64, 9), (96, 64, 17), (64, 64, 9)]


@pytest.mark.parametrize("seed", range(60))
def test_reads_ground_truth_frames(seed):
    width, height, frames = BUCKETS[seed % len(BUCKETS)]
    spec = sample_spec(seed, width, height, frames, split="any")
    analysis = analyze_frames(render(spec))
    assert (analysis.colour, analysis.direction, analysis.shape) == (spec.colour, spec.direction, spec.shape)


@pytest.mark.parametrize("seed", range(100, 116))
def test_reads_ground_truth_after_mp4_round_trip(tmp_path, seed):
    width, height, frames = BUCKETS[seed % len(BUCKETS)]
    spec = sample_spec(seed, width, height, frames, split="any")
    path = tmp_path / "clip.mp4"
    write_video(path, render(spec), FPS)
    analysis = analyze_video(path)
    assert (analysis.colour, analysis.direction, analysis.shape) == (spec.colour, spec.direction, spec.shape)


def test_float_frames_are_accepted():
    spec = sample_spec(5, split="any")
    analysis = analyze_frames(render(spec).astype(np.float32) / 255.0)
    assert analysis.colour == spec.colour and analysis.direction == spec.direction


def test_still_object_is_static_and_empty_clip_has_no_object():
    moving = sample_spec(11, split="any")
    still = ClipSpec(**{**moving.__dict__, "speed": "slowly"})
    frame = render(still)[:1]
    assert analyze_frames(np.repeat(frame, 9, axis=0)).direction == "static"
    blank = np.full((9, 64, 64, 3), 30, np.uint8)
    assert analyze_frames(blank).colour is None


def test_direction_classifier_uses_eight_sectors():
    for name, (dx, dy) in DIRECTIONS.items():
        assert classify_direction(10 * dx, 10 * dy) == name
    assert classify_direction(10, 3) == "right"  # 17 degrees off: still right
    assert classify_direction(1, 1) == "static"
