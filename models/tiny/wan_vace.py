"""A tiny `WanVACEPipeline`: the tiny Wan pipeline with a VACE transformer (one VACE block), for
reference-image conditioning (a character's frame)."""

import torch
from diffusers import WanVACEPipeline, WanVACETransformer3DModel

from models.tiny import wan


def build(seed: int = 0) -> WanVACEPipeline:
    base = wan.build(seed)
    torch.manual_seed(seed + 1)
    config = {k: v for k, v in base.transformer.config.items() if not k.startswith("_")}
    # VACE's context: 16 latent channels twice (inactive, reactive) plus an 8x8 mask: 96.
    transformer = WanVACETransformer3DModel(**{**config, "vace_layers": [0], "vace_in_channels": 96})
    return WanVACEPipeline(
        tokenizer=base.tokenizer,
        text_encoder=base.text_encoder,
        vae=base.vae,
        scheduler=base.scheduler,
        transformer=transformer,
    )
