"""A tiny Wan 2.2 A14B-style `WanPipeline`: two transformers, the first for the high-noise steps
and the second for the rest, switched at `boundary_ratio` as in the published checkpoint."""

import torch
from diffusers import WanPipeline, WanTransformer3DModel

from models.tiny import wan


# The published A14B's switch point: the first 12.5% of the noise range goes to the second expert.
BOUNDARY_RATIO = 0.875


def build(seed: int = 0) -> WanPipeline:
    single = wan.build(seed)
    torch.manual_seed(seed + 1)
    low_noise_expert = WanTransformer3DModel.from_config(single.transformer.config)
    return WanPipeline(
        tokenizer=single.tokenizer,
        text_encoder=single.text_encoder,
        vae=single.vae,
        transformer=single.transformer,
        transformer_2=low_noise_expert,
        scheduler=single.scheduler,
        boundary_ratio=BOUNDARY_RATIO,
    )
