"""Generation conditioned on known frames, through the standard WanPipeline.

Known video frames are encoded to latent frames and pinned at given latent positions:
image-to-video pins latent 0 (the image), a continuation pins the first two latents
(the previous clip's last five frames: one frame, then a group of four). Two ways:

- "clean": the pinned frames enter the transformer clean, with timestep 0 on their
  tokens (a forward pre-hook passes Wan's per-token timesteps). The embedded model was
  trained for this: every latent frame had its own noise level, some kept at 0.
- "renoise": after each step the pinned frames are replaced by the known latents noised
  to the next step's level (works with any flow-matching model, e.g. a real Wan).

Both go through `pipeline(...)` with `callback_on_step_end`; nothing else is patched.
"""

from __future__ import annotations

import numpy as np
import torch


def frames_to_video(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 or float in [0, 1] to the VAE's (1, 3, T, H, W) in [-1, 1]."""
    frames = np.asarray(frames, np.float32)
    if frames.max() > 1.0:
        frames = frames / 255.0
    return torch.from_numpy(frames * 2 - 1).permute(3, 0, 1, 2)[None].contiguous()


def latent_statistics(vae) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (1, -1, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(shape)
    std = torch.tensor(vae.config.latents_std).view(shape)
    return mean, std


@torch.no_grad()
def encode_frames(pipeline, frames: np.ndarray) -> torch.Tensor:
    """1 + 4k video frames to the normalised latents WanPipeline denoises."""
    latents = pipeline.vae.encode(frames_to_video(frames)).latent_dist.mode()
    mean, std = latent_statistics(pipeline.vae)
    return (latents - mean) / std


class LatentPins:
    """Keeps latent frames at `positions` equal to `known` during sampling."""

    def __init__(self, known: torch.Tensor, positions: list[int], mode: str = "clean", seed: int = 0):
        if mode not in ("clean", "renoise"):
            raise ValueError(f"unknown pinning mode {mode!r}")
        self.known, self.positions, self.mode = known, positions, mode
        self.noise = torch.randn(known.shape, generator=torch.Generator().manual_seed(seed))
        self.sigmas: torch.Tensor | None = None

    def pinned(self, latents: torch.Tensor, sigma: float) -> torch.Tensor:
        latents = latents.clone()
        value = self.known if self.mode == "clean" else (1 - sigma) * self.known + sigma * self.noise
        latents[:, :, self.positions] = value.to(latents.dtype).expand(latents.shape[0], -1, -1, -1, -1)
        return latents

    def before_transformer(self, module, args, kwargs):
        """Pre-hook: pinned frames clean, their tokens at timestep 0 (mode "clean")."""
        hidden = kwargs["hidden_states"]
        batch, _, frames, height, width = hidden.shape
        patch_frames, patch_height, patch_width = module.config.patch_size
        per_frame = kwargs["timestep"].float().view(-1, 1).expand(batch, frames).clone()
        per_frame[:, self.positions] = 0
        # A token spanning several latent frames counts as clean only if all of them are.
        per_token_frame = per_frame.view(batch, frames // patch_frames, patch_frames).amax(dim=2)
        tokens_per_frame = (height // patch_height) * (width // patch_width)
        kwargs["timestep"] = per_token_frame.repeat_interleave(tokens_per_frame, dim=1)
        kwargs["hidden_states"] = self.pinned(hidden, 0.0)
        return args, kwargs

    def __call__(self, pipeline, step: int, timestep, callback_kwargs: dict) -> dict:
        sigma = float(pipeline.scheduler.sigmas[step + 1])
        return {"latents": self.pinned(callback_kwargs["latents"], 0.0 if self.mode == "clean" else sigma)}


def generate_pinned(pipeline, known: torch.Tensor, positions: list[int], mode: str = "clean", **call):
    """Run `pipeline(**call)` with latent frames pinned; returns the pipeline's output."""
    pins = LatentPins(
        known, positions, mode, seed=int(call.get("generator").initial_seed()) if "generator" in call else 0
    )
    handle = None
    if mode == "clean":
        handle = pipeline.transformer.register_forward_pre_hook(pins.before_transformer, with_kwargs=True)
    try:
        return pipeline(**call, callback_on_step_end=pins, callback_on_step_end_tensor_inputs=["latents"])
    finally:
        if handle is not None:
            handle.remove()


def image_to_video(pipeline, image: np.ndarray, mode: str = "clean", **call):
    """`image` (H, W, 3) becomes the first frame; the prompt says how it moves."""
    return generate_pinned(pipeline, encode_frames(pipeline, image[None]), [0], mode, **call)


# A continuation re-encodes the previous clip's last 1 + 4 frames as the new clip's first
# two latent frames, so velocity, not only position, is carried across the join.
CONTINUATION_OVERLAP = 5


def continue_video(pipeline, previous: np.ndarray, mode: str = "clean", **call):
    """New clip whose first CONTINUATION_OVERLAP frames reproduce `previous`'s last ones;
    append its frames[CONTINUATION_OVERLAP:] to `previous` to extend the video."""
    tail = encode_frames(pipeline, previous[-CONTINUATION_OVERLAP:])
    return generate_pinned(pipeline, tail, list(range(tail.shape[2])), mode, **call)
