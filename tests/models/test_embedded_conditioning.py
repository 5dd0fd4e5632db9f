"""Image-to-video and continuation with the shipped embedded model, through WanPipeline
with pinned latent frames (models/embedded/conditioning.py). These check what pinning
guarantees (the known frames come back, in colour and place, and the pipeline is left
as it was); how well the generated frames follow the prompt is measured by evaluate.py."""

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline

from models.embedded import PIPELINE_DIR
from models.embedded.analyzer import analyze_frames, locate
from models.embedded.captions import caption_for
from models.embedded.conditioning import CONTINUATION_OVERLAP, continue_video, image_to_video
from models.embedded.evaluate import sampling_arguments
from models.embedded.world import ClipSpec, centre_track, render


@pytest.fixture(scope="module")
def pipeline():
    torch.set_num_threads(2)
    loaded = DiffusionPipeline.from_pretrained(PIPELINE_DIR)
    loaded.set_progress_bar_config(disable=True)
    return loaded


def arguments(spec: ClipSpec, seed: int) -> dict:
    """Short clips and few steps: pinning is exact at any step count."""
    return {**sampling_arguments(caption_for(spec), "64x64", 9, seed), "num_inference_steps": 8}


SPEC = ClipSpec("green", "square", "right", "quickly", "large", "dark grey", 64, 64, 17, 16.0, 30.0)


@pytest.mark.parametrize("mode", ["clean", "renoise"])
def test_image_becomes_the_first_frame_of_a_clip_in_its_colour(pipeline, mode):
    image = render(SPEC)[0]
    frames = image_to_video(pipeline, image, mode, **arguments(SPEC, 0)).frames[0]
    assert len(frames) >= 9 and frames.shape[1:] == (64, 64, 3)
    colour, centre = locate(frames[0])
    assert colour == "green"
    np.testing.assert_allclose(centre, centre_track(SPEC)[0], atol=2.0)
    assert analyze_frames(frames).colour == "green"


def test_continuation_reproduces_the_tail_and_keeps_the_colour(pipeline):
    spec = ClipSpec("pink", "circle", "down", "slowly", "small", "black", 64, 64, 29, 30.0, 12.0)
    truth = render(spec)
    previous = truth[:17]
    new = continue_video(pipeline, previous, **arguments(spec, 1)).frames[0]
    lawful = centre_track(spec)
    # The overlap shows the previous clip's last frames, as the VAE reconstructs them: it
    # draws each group of four frames nearly alike (MODEL_CARD.md), up to ~2.5 px off here.
    for index in range(CONTINUATION_OVERLAP):
        np.testing.assert_allclose(locate(new[index])[1], lawful[17 - CONTINUATION_OVERLAP + index], atol=3.0)
    assert analyze_frames(new[CONTINUATION_OVERLAP:]).colour == "pink"


def test_pinning_leaves_the_pipeline_as_it_was(pipeline):
    call = dict(prompt="a red circle", height=64, width=64, num_frames=9, num_inference_steps=4, output_type="np")
    before = pipeline(**call, generator=torch.Generator().manual_seed(5)).frames[0]
    image_to_video(pipeline, render(SPEC)[0], "clean", **call, generator=torch.Generator().manual_seed(5))
    assert not pipeline.transformer._forward_pre_hooks
    after = pipeline(**call, generator=torch.Generator().manual_seed(5)).frames[0]
    np.testing.assert_array_equal(before, after)
