"""A tiny `WanPipeline`: same classes as a real Wan checkpoint, a few thousand parameters."""

import torch
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel

from models.tiny.text import tiny_t5_encoder, tiny_tokenizer


def tiny_transformer(attention_head_dim: int = 12) -> WanTransformer3DModel:
    """The tiny transformer; another head width gives the same layer names with other shapes."""
    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=attention_head_dim,
        in_channels=16,
        out_channels=16,
        text_dim=32,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )


def build(seed: int = 0) -> WanPipeline:
    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer(model_max_length=32)
    text_encoder = tiny_t5_encoder(tokenizer, umt5=True, d_ff=64)
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    transformer = tiny_transformer()
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    return WanPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler
    )
