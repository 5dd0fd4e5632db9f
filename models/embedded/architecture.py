"""Builders for the embedded model's components, all standard diffusers/transformers
classes so the shipped folder loads exactly like a real Wan checkpoint."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

from models.embedded.captions import vocabulary


LATENT_CHANNELS = 16
TEXT_WIDTH = 64
# WanPipeline pads prompt embeddings with zeros to this length; training does the same
# so cross-attention sees identical key sets at train and sample time.
MAX_SEQUENCE_LENGTH = 512
FLOW_SHIFT = 3.0
SPECIAL_TOKENS = ["<pad>", "</s>", "<unk>"]


def build_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS + vocabulary())}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    # T5-style: every sequence ends with </s>, so even an empty prompt has one token.
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=MAX_SEQUENCE_LENGTH,
        padding_side="right",
    )


def build_text_encoder(vocab_size: int) -> UMT5EncoderModel:
    config = UMT5Config(
        vocab_size=vocab_size,
        d_model=TEXT_WIDTH,
        d_kv=16,
        d_ff=192,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=16,
        relative_attention_max_distance=32,
        dropout_rate=0.0,
        feed_forward_proj="gated-gelu",
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        tie_word_embeddings=False,
    )
    return UMT5EncoderModel(config)


def build_vae() -> AutoencoderKLWan:
    # 8x spatial and 4x temporal compression, 16 channels, as Wan 2.1: a latent frame
    # holds four video frames (the first latent holds the first frame alone), so an
    # object's motion is written inside every latent and each transformer token sees it.
    return AutoencoderKLWan(
        base_dim=16,
        z_dim=LATENT_CHANNELS,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        # WanPipeline sizes its latents from these two config values, not from the layers.
        scale_factor_temporal=4,
        scale_factor_spatial=8,
        latents_mean=[0.0] * LATENT_CHANNELS,
        latents_std=[1.0] * LATENT_CHANNELS,
    )


# One token per latent frame and 2x2 latent pixels: with 4x temporal compression
# the motion is already inside each latent frame.
TRANSFORMER_PATCH = (1, 2, 2)


def build_transformer(patch_size: tuple[int, int, int] = TRANSFORMER_PATCH) -> WanTransformer3DModel:
    return WanTransformer3DModel(
        patch_size=patch_size,
        num_attention_heads=4,
        attention_head_dim=32,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        text_dim=TEXT_WIDTH,
        freq_dim=64,
        ffn_dim=512,
        num_layers=6,
        rope_max_seq_len=256,
    )


def build_scheduler() -> UniPCMultistepScheduler:
    # Flow matching with sigma-parameterised time: x_t = (1 - s) x0 + s noise, the
    # network predicts (noise - x0) at timestep s * 1000, as in training.
    return UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=FLOW_SHIFT, num_train_timesteps=1000
    )


def encode_prompts(tokenizer, text_encoder, prompts: list[str]) -> torch.Tensor:
    """Same embedding layout as WanPipeline._get_t5_prompt_embeds: real tokens then zeros.

    The encoder runs on the shortest padding that fits (masked attention makes the
    result independent of padding length), then zeros are appended to 512.
    """
    inputs = tokenizer(prompts, padding="longest", truncation=True, return_tensors="pt")
    mask = inputs.attention_mask
    hidden = text_encoder(inputs.input_ids, mask).last_hidden_state
    hidden = hidden * mask.unsqueeze(-1).to(hidden.dtype)
    padding = hidden.new_zeros(hidden.shape[0], MAX_SEQUENCE_LENGTH - hidden.shape[1], hidden.shape[2])
    return torch.cat([hidden, padding], dim=1)
