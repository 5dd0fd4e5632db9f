"""The synthetic world behind the embedded model: deterministic, varied, honest splits."""

import random

import numpy as np
import pytest

from models.embedded.captions import DIRECTION_PHRASES, TEMPLATES, caption, caption_for, vocabulary
from models.embedded.world import (
    BACKGROUNDS,
    COLOURS,
    DIRECTIONS,
    HELD_OUT,
    SHAPES,
    ClipSpec,
    centre_track,
    object_radius,
    render,
    sample_spec,
)


def test_world_covers_required_vocabulary():
    assert {"red", "green", "blue", "yellow"} <= set(COLOURS) and len(COLOURS) >= 6
    assert {"circle", "square", "triangle"} <= set(SHAPES)
    assert {"left", "right", "up", "down"} <= set(DIRECTIONS)


def test_render_is_deterministic_per_seed():
    first = render(sample_spec(7, 96, 64, 17))
    again = render(sample_spec(7, 96, 64, 17))
    other = render(sample_spec(8, 96, 64, 17))
    assert first.shape == (17, 64, 96, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("seed", range(40))
def test_object_has_its_colour_and_stays_in_frame(seed):
    spec = sample_spec(seed, 64 if seed % 2 else 96, 64, 17 if seed % 3 else 9, split="any")
    frames = render(spec)
    track = centre_track(spec)
    radius = object_radius(spec.size, spec.height)
    assert (track[:, 0] >= radius).all() and (track[:, 0] <= spec.width - radius).all()
    assert (track[:, 1] >= radius).all() and (track[:, 1] <= spec.height - radius).all()
    for frame, (x, y) in zip(frames, track, strict=False):
        np.testing.assert_array_equal(frame[int(y), int(x)], COLOURS[spec.colour])
        np.testing.assert_array_equal(frame[0, 0], BACKGROUNDS[spec.background])
    travel = track[-1] - track[0]
    expected = np.sign(DIRECTIONS[spec.direction])
    np.testing.assert_array_equal(np.sign(np.round(travel, 3)), expected)


def test_object_bounces_off_the_edges_with_equal_angles():
    """A long clip stays in frame: each coordinate reflects at the edge, speed is kept."""
    spec = ClipSpec("red", "circle", "down-right", "quickly", "small", "black", 64, 64, 120, 40.0, 20.0)
    track = centre_track(spec)
    radius = object_radius(spec.size, spec.height)
    assert (track >= radius).all() and (track <= 64 - radius).all()
    steps = np.diff(track, axis=0)
    # Away from the turning frames every step is the free step with flipped signs.
    free_step = abs(steps[0, 0])
    regular = np.isclose(np.abs(steps), free_step, atol=1e-4).all(axis=1)
    assert regular.mean() > 0.8
    assert set(np.sign(steps[regular, 0])) == {-1.0, 1.0} and set(np.sign(steps[regular, 1])) == {-1.0, 1.0}


@pytest.mark.parametrize("seed", range(10))
def test_bouncing_clips_start_anywhere_and_stay_in_frame(seed):
    spec = sample_spec(seed, 64, 96, 33, bounce=True)
    track = centre_track(spec)
    radius = object_radius(spec.size, spec.height)
    assert (track[:, 0] >= radius).all() and (track[:, 0] <= spec.width - radius).all()
    assert (track[:, 1] >= radius).all() and (track[:, 1] <= spec.height - radius).all()
    step_lengths = np.hypot(*np.diff(track, axis=0).T)
    np.testing.assert_allclose(np.median(step_lengths), {"slowly": 1.25, "quickly": 2.25}[spec.speed], rtol=1e-4)


def test_held_out_combinations_never_reach_training():
    combos = {sample_spec(seed, split="train").combo for seed in range(3000)}
    assert combos.isdisjoint(HELD_OUT)
    assert len(combos) > 100  # but training still sees most of the world
    held = {sample_spec(seed, split="held_out").combo for seed in range(200)}
    assert held == set(HELD_OUT)


def test_held_out_set_spans_every_colour_and_shape():
    assert {combo[0] for combo in HELD_OUT} == set(COLOURS)
    assert {combo[1] for combo in HELD_OUT} == set(SHAPES)


def test_captions_name_every_attribute_in_several_phrasings():
    spec = sample_spec(3)
    texts = {caption_for(spec, random.Random(i)) for i in range(30)}
    assert len(texts) == len(TEMPLATES) >= 3
    for text in texts:
        for word in (spec.colour, spec.shape, DIRECTION_PHRASES[spec.direction], spec.speed, spec.size):
            assert word in text
        assert f"{spec.background} background" in text


def test_caption_words_are_all_in_the_vocabulary():
    words = set(vocabulary())
    for template in range(len(TEMPLATES)):
        text = caption("pink", "triangle", "down-left", "quickly", "small", "dark grey", template)
        tokens = text.replace(",", " , ").replace(".", " . ").split()
        assert set(tokens) <= words
