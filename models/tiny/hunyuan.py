"""A tiny `HunyuanVideoPipeline` (diffusers' test sizes) with Llama and CLIP text encoders built
in code and word-level tokenizers in place of the hub ones."""

import torch
from diffusers import (
    AutoencoderKLHunyuanVideo,
    FlowMatchEulerDiscreteScheduler,
    HunyuanVideoPipeline,
    HunyuanVideoTransformer3DModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel

from models.tiny.text import tiny_tokenizer


def build(seed: int = 0) -> HunyuanVideoPipeline:
    torch.manual_seed(seed)
    # The Llama prompt goes through the pipeline's chat template; its words map to <unk> here.
    tokenizer = tiny_tokenizer(model_max_length=512)
    tokenizer_2 = tiny_tokenizer(model_max_length=77)
    shared = dict(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.pad_token_id,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        hidden_act="gelu",
    )
    text_encoder = LlamaModel(LlamaConfig(hidden_size=16, max_position_embeddings=512, **shared))
    text_encoder_2 = CLIPTextModel(
        CLIPTextConfig(hidden_size=8, projection_dim=32, max_position_embeddings=77, **shared)
    )
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=10,
        num_layers=1,
        num_single_layers=1,
        num_refiner_layers=1,
        # 2x2 patches like the published model, so its multiple of 16 holds here too.
        patch_size=2,
        patch_size_t=1,
        guidance_embeds=True,
        text_embed_dim=16,
        pooled_projection_dim=8,
        rope_axes_dim=(2, 4, 4),
    )
    vae = AutoencoderKLHunyuanVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        act_fn="silu",
        norm_num_groups=4,
        scaling_factor=0.476986,
        spatial_compression_ratio=8,
        temporal_compression_ratio=4,
        mid_block_add_attention=True,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(shift=7.0)
    return HunyuanVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        tokenizer_2=tokenizer_2,
        text_encoder_2=text_encoder_2,
        vae=vae,
        transformer=transformer,
        scheduler=scheduler,
    )
