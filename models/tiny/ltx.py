"""A tiny `LTXPipeline`: the real classes with a few thousand parameters (diffusers' test sizes)."""

import torch
from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline, LTXVideoTransformer3DModel

from models.tiny.text import tiny_t5_encoder, tiny_tokenizer


def build(seed: int = 0) -> LTXPipeline:
    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer(model_max_length=128)
    text_encoder = tiny_t5_encoder(tokenizer)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        # Two blocks: First Block Cache needs a first block and at least one more.
        num_layers=2,
        caption_channels=32,
    )
    # Three space-time downsamplings of 2 after a 4x4 input patch: 32x in space, 8x in time,
    # the same factors as the published VAE, so the family's rules hold for this model too.
    vae = AutoencoderKLLTXVideo(
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        # Like the 0.9.1+ VAEs, so the family's decode_timestep is exercised.
        timestep_conditioning=True,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    scheduler = FlowMatchEulerDiscreteScheduler()
    return LTXPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler
    )
