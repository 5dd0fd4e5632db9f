"""The plan of a long video: frames per chunk, overlap in latent and pixel frames, prompts."""

import pytest

from workers.longvideo.plan import chunk_prompts, make_plan
from workers.longvideo.runner import latent_end


@pytest.mark.parametrize(
    ("total", "chunk", "scale", "patch"),
    [(481, 17, 1, 2), (961, 81, 4, 1), (193, 49, 4, 1), (257, 97, 8, 1), (40, 9, 1, 1)],
)
def test_chunks_deliver_exactly_the_frames_asked_for(total, chunk, scale, patch):
    plan = make_plan(total, chunk, scale, "a", temporal_patch=patch)
    assert sum(plan.new_frames) == total
    assert plan.new_frames[0] == chunk
    # A continuing chunk delivers what follows its pinned latents: 1 + (k - 1) * scale frames in.
    assert plan.overlap_frames == 1 + (plan.overlap_latents - 1) * scale
    assert all(n <= chunk - plan.overlap_frames for n in plan.new_frames[1:])
    latents = (chunk - 1) // scale + 1
    assert (latents - plan.overlap_latents) % patch == 0
    # Each full chunk's tail ends on its last delivered frame.
    assert latent_end(plan, 0) == latents


def test_a_continuation_and_a_bridge_drop_their_pinned_frames():
    plan = make_plan(30, 17, 1, "a", continues=True, closes=True, temporal_patch=2)
    assert plan.first_new_frame(0) == plan.overlap_frames
    bridge = plan.new_frames[-1]
    assert bridge == 17 - plan.overlap_frames - plan.closing_frames
    assert sum(plan.new_frames) == 30


def test_a_clip_too_short_for_a_bridge_is_refused():
    with pytest.raises(ValueError, match="too few"):
        make_plan(3, 17, 1, "a", closes=True)


def test_prompt_segments_spread_over_the_chunks():
    assert chunk_prompts("a | b", None, 4) == ["a", "a", "b", "b"]
    assert chunk_prompts("a|b|c", None, 3) == ["a", "b", "c"]
    # The expansion's rewrite is used when it kept the segments.
    assert chunk_prompts("a | b", "long a | long b", 2) == ["long a", "long b"]
    assert chunk_prompts("a | b", "one caption", 2) == ["a", "b"]
    assert chunk_prompts("just one", "rewritten", 3) == ["rewritten"] * 3
