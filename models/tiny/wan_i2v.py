"""A tiny `WanImageToVideoPipeline` in the Wan 2.2 TI2V layout (`expand_timesteps`: the image's
latent is the first latent frame, no CLIP image encoder): an image-to-video-only checkpoint."""

from diffusers import WanImageToVideoPipeline

from models.tiny import wan


def build(seed: int = 0) -> WanImageToVideoPipeline:
    base = wan.build(seed)
    return WanImageToVideoPipeline(
        tokenizer=base.tokenizer,
        text_encoder=base.text_encoder,
        vae=base.vae,
        scheduler=base.scheduler,
        transformer=base.transformer,
        expand_timesteps=True,
    )
