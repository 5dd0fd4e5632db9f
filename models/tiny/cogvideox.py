"""A tiny `CogVideoXPipeline` (diffusers' test sizes): 8x spatial, 4x temporal VAE, 2x2 patches."""

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline, CogVideoXTransformer3DModel

from models.tiny.text import tiny_t5_encoder, tiny_tokenizer


def build(seed: int = 0) -> CogVideoXPipeline:
    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer(model_max_length=226)
    text_encoder = tiny_t5_encoder(tokenizer)
    transformer = CogVideoXTransformer3DModel(
        # heads x head_dim must be divisible by 16 for the 3D sincos positional embedding.
        num_attention_heads=4,
        attention_head_dim=8,
        in_channels=4,
        out_channels=4,
        time_embed_dim=2,
        text_embed_dim=32,
        # Two blocks: First Block Cache needs a first block and at least one more.
        num_layers=2,
        # The size the positional table is built for (latent 2x2x3); other sizes rebuild it.
        sample_width=2,
        sample_height=2,
        sample_frames=9,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=226,
    )
    vae = AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    )
    scheduler = CogVideoXDDIMScheduler()
    return CogVideoXPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler
    )
