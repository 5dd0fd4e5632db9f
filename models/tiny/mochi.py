"""A tiny `MochiPipeline` (diffusers' test sizes): 8x spatial, 6x temporal VAE, 2x2 patches."""

import torch
from diffusers import AutoencoderKLMochi, FlowMatchEulerDiscreteScheduler, MochiPipeline, MochiTransformer3DModel

from models.tiny.text import tiny_t5_encoder, tiny_tokenizer


def build(seed: int = 0) -> MochiPipeline:
    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer(model_max_length=256)
    text_encoder = tiny_t5_encoder(tokenizer)
    transformer = MochiTransformer3DModel(
        patch_size=2,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=2,
        pooled_projection_dim=16,
        in_channels=12,
        out_channels=None,
        qk_norm="rms_norm",
        text_embed_dim=32,
        time_embed_dim=4,
        activation_fn="swiglu",
        max_sequence_length=256,
    )
    vae = AutoencoderKLMochi(
        latent_channels=12,
        out_channels=3,
        encoder_block_out_channels=(32, 32, 32, 32),
        decoder_block_out_channels=(32, 32, 32, 32),
        layers_per_block=(1, 1, 1, 1, 1),
    )
    scheduler = FlowMatchEulerDiscreteScheduler()
    return MochiPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler
    )
