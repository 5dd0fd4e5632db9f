"""The CPU speed-ups change how frames are computed, not which frames come out."""

import numpy as np
import pytest

from models.catalog import load_catalog
from models.cpu_speedups import FoldedPaddingAttnProcessor
from models.loader import load_model
from tests.conftest import TEST_CATALOG
from workers.batching import sample_batch
from workers.runtime import sample


def params(prompt: str, seed: int) -> dict:
    return {
        "prompt": prompt,
        "negative_prompt": "blurry",
        "height": 32,
        "width": 32,
        "num_frames": 5,
        "num_inference_steps": 2,
        "guidance_scale": 3.0,
        "seed": seed,
        "fps": 8,
    }


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    entry = load_catalog(TEST_CATALOG)["tiny-wan"]
    folder = tmp_path_factory.mktemp("speedups")
    return load_model(entry, folder), load_model(entry.model_copy(update={"cpu_speedups": False}), folder)


def test_sped_up_pipeline_renders_the_stock_frames(pair):
    fast, stock = pair
    processors = [block.attn2.processor for block in fast.pipeline.transformer.blocks]
    assert all(isinstance(p, FoldedPaddingAttnProcessor) for p in processors)
    assert not any(isinstance(b.attn2.processor, FoldedPaddingAttnProcessor) for b in stock.pipeline.transformer.blocks)
    batch = [params("a red circle moving left", 1), params("a much longer prompt about a blue square", 2)]
    seen = []  # batch sizes the first block ran on: both guidance passes in one call, once per step
    hook = fast.pipeline.transformer.blocks[0].register_forward_hook(lambda m, args, out: seen.append(len(out)))
    encoded = []  # token counts the text encoder ran on: the longest prompt's, not 512
    embedding = fast.pipeline.text_encoder.encoder.embed_tokens
    text_hook = embedding.register_forward_hook(lambda m, args, out: encoded.append(out.shape[1]))
    together = zip(
        sample_batch(fast, batch, lambda d, t: None), sample_batch(stock, batch, lambda d, t: None), strict=True
    )
    for one, other in together:
        np.testing.assert_allclose(one.frames, other.frames, atol=1e-4)
    hook.remove()
    text_hook.remove()
    assert seen == [4, 4]
    assert encoded and max(encoded) < 20, encoded
    # The padding really was folded: the last key stood for hundreds of zero rows.
    assert processors[0].copies.count > 100
    alone = sample(fast, batch[0], lambda d, t: None)
    np.testing.assert_allclose(alone.frames, sample(stock, batch[0], lambda d, t: None).frames, atol=1e-4)


def test_embedded_vae_decodes_the_stock_frames_with_its_zero_past_taps_skipped():
    """The embedded VAE's 3x3x3 convolutions have zero past-frame taps: with the speed-ups they
    run per frame, and its channel norms as sums of squares; a decode must not change."""
    import torch
    from diffusers import AutoencoderKLWan

    from models.cpu_speedups import channel_rms_norms, present_frame_convolutions
    from models.embedded import PIPELINE_DIR

    stock = AutoencoderKLWan.from_pretrained(PIPELINE_DIR / "vae").eval()
    fast = AutoencoderKLWan.from_pretrained(PIPELINE_DIR / "vae").eval()
    assert present_frame_convolutions(fast) == 36  # every 3x3x3 one; the 4 resampling ones mix frames
    assert channel_rms_norms(fast) > 0
    latents = torch.randn(2, 16, 5, 8, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, found = stock.decode(latents).sample, fast.decode(latents).sample
    assert found.shape == expected.shape == (2, 3, 17, 64, 96)
    torch.testing.assert_close(found, expected, atol=1e-4, rtol=0)


def test_a_vae_whose_convolutions_look_back_is_left_alone():
    """A real Wan VAE's past-frame taps are not zero (here: random ones)."""
    from diffusers import AutoencoderKLWan

    from models.cpu_speedups import present_frame_convolutions

    vae = AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 2], num_res_blocks=1, temperal_downsample=[True])
    assert present_frame_convolutions(vae) == 0
