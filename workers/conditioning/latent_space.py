"""A pipeline's denoising space: how its VAE compresses, how its latents are normalised, and the
layout its denoising loop (and so `callback_on_step_end`) holds them in.

Everything here works on *canonical* latents, (1, C, f, h, w), normalised exactly as the family's
pipeline normalises them before denoising; `to_loop` / `from_loop` convert to and from the loop's
own layout (CogVideoX keeps frames before channels, LTX packs latents into a token sequence).
The VAE's compression factors are read from the pipeline, never assumed: a retrained VAE with
another temporal factor changes the frame rule, not this code.
"""

import numpy as np
import torch
from diffusers import DiffusionPipeline

from workers.conditioning.conditions import ConditionError


# AutoencoderKLWan.encode takes the first frame, then whole chunks of this many frames.
WAN_ENCODE_CHUNK = 4


def _first_attr(obj, names: tuple[str, ...]):
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


class LatentSpace:
    """The canonical <-> loop mapping for one loaded pipeline."""

    # Pipelines whose latents are normalised with per-channel mean/std from the VAE config.
    _MEAN_STD = ("Wan", "Mochi", "LTX")

    def __init__(self, pipe: DiffusionPipeline):
        self.pipe = pipe
        self.vae = pipe.vae
        self.kind = type(pipe).__name__
        self.temporal = int(
            _first_attr(
                pipe, ("vae_scale_factor_temporal", "vae_temporal_compression_ratio", "vae_temporal_scale_factor")
            )
            or 1
        )
        self.spatial = int(
            _first_attr(pipe, ("vae_scale_factor_spatial", "vae_spatial_compression_ratio", "vae_spatial_scale_factor"))
        )
        config = self.vae.config
        self.channels = int(_first_attr(config, ("z_dim", "latent_channels")))
        self.frames_first = self.kind.startswith("CogVideoX")
        self.packed = self.kind.startswith("LTX")
        self.loop_shape: tuple[int, ...] | None = None

    # -- frame arithmetic -------------------------------------------------------------------
    def latent_frames(self, pixel_frames: int) -> int:
        """How many latent frames a causal VAE makes of `pixel_frames` (first frame alone)."""
        return (pixel_frames - 1) // self.temporal + 1

    def pipeline_frames(self, num_frames: int) -> int:
        """The frames the pipeline actually makes for `num_frames` (Wan rounds to t*k+1 and, with
        no temporal compression, adds a frame; the render keeps only the promised ones)."""
        if self.kind.startswith("Wan") and num_frames % self.temporal != 1:
            return num_frames // self.temporal * self.temporal + 1
        return num_frames

    def canonical_shape(self, num_frames: int, height: int, width: int) -> tuple[int, ...]:
        frames = self.latent_frames(self.pipeline_frames(num_frames))
        return (1, self.channels, frames, height // self.spatial, width // self.spatial)

    # -- normalisation ----------------------------------------------------------------------
    def _stats(self, like: torch.Tensor):
        config = self.vae.config
        if self.kind.startswith("LTX"):
            mean, std, scale = self.vae.latents_mean, self.vae.latents_std, config.scaling_factor
        elif self.kind.startswith(self._MEAN_STD) and getattr(config, "latents_mean", None) is not None:
            mean, std = torch.tensor(config.latents_mean), torch.tensor(config.latents_std)
            # Wan's pipelines divide by std and add no scale; Mochi's also multiply by scaling_factor.
            scale = getattr(config, "scaling_factor", 1.0) if self.kind.startswith("Mochi") else 1.0
        else:
            return None, None, getattr(config, "scaling_factor", 1.0)
        shape = (1, -1, 1, 1, 1)
        return mean.view(shape).to(like), std.view(shape).to(like), scale

    def normalise(self, raw: torch.Tensor) -> torch.Tensor:
        mean, std, scale = self._stats(raw)
        return raw * scale if mean is None else (raw - mean) * scale / std

    # -- encoding ---------------------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """(F, H, W, 3) floats in [0, 1] -> canonical latents (1, C, f, h, w) in float32."""
        expected = self.latent_frames(len(frames))
        latents = self._encode(frames)
        if latents.shape[2] < expected:
            # Wan's VAE reads a clip in chunks of 4 frames after the first and drops a partial
            # chunk, whatever its temporal factor. It is causal, so repeating the last frame up
            # to a whole chunk and cutting the extra latents off changes none of the others.
            padded = -(-(len(frames) - 1) // WAN_ENCODE_CHUNK) * WAN_ENCODE_CHUNK + 1
            frames = np.concatenate([frames, np.repeat(frames[-1:], padded - len(frames), axis=0)])
            latents = self._encode(frames)
        if latents.shape[2] < expected:
            raise ConditionError(f"the VAE made {latents.shape[2]} latent frames of {len(frames)}, not {expected}")
        return latents[:, :, :expected]

    def _encode(self, frames: np.ndarray) -> torch.Tensor:
        pixels = torch.from_numpy(np.ascontiguousarray(frames)).float()
        pixels = pixels.permute(3, 0, 1, 2).unsqueeze(0) * 2.0 - 1.0
        device = self.pipe._execution_device
        output = self.vae.encode(pixels.to(device=device, dtype=self.vae.dtype))
        dist = getattr(output, "latent_dist", None)
        raw = dist.mode() if dist is not None else output.latents
        return self.normalise(raw.float())

    def encode_tail(self, frames: np.ndarray, latent_count: int) -> torch.Tensor:
        """Latents for the LAST `latent_count` slots of a clip ending in `frames`.

        A causal VAE encodes its first frame alone; a slot after it covers `temporal` frames. So
        a lead-in frame is put before the last `latent_count * temporal` frames and its latent
        dropped, giving latents that mean the same as mid-clip ones (an image pinned last is
        repeated over its slot).
        """
        needed = latent_count * self.temporal
        if len(frames) < needed:
            frames = np.concatenate([np.repeat(frames[:1], needed - len(frames), axis=0), frames])
        tail = frames[-needed:]
        return self.encode(np.concatenate([tail[:1], tail]))[:, :, 1:]

    # -- loop layout ------------------------------------------------------------------------
    def to_loop(self, canonical: torch.Tensor) -> torch.Tensor:
        if self.frames_first:
            return canonical.permute(0, 2, 1, 3, 4)
        if self.packed:
            transformer = self.pipe.transformer_spatial_patch_size, self.pipe.transformer_temporal_patch_size
            return self.pipe._pack_latents(canonical, transformer[0], transformer[1])
        return canonical

    def from_loop(self, latents: torch.Tensor, canonical_shape: tuple[int, ...]) -> torch.Tensor:
        if self.frames_first:
            return latents.permute(0, 2, 1, 3, 4)
        if self.packed:
            _, _, f, h, w = canonical_shape
            p, pt = self.pipe.transformer_spatial_patch_size, self.pipe.transformer_temporal_patch_size
            return self.pipe._unpack_latents(latents, f, h, w, p, pt)
        return latents


def latent_space_of(pipe: DiffusionPipeline) -> LatentSpace:
    if getattr(pipe, "vae", None) is None:
        raise ConditionError(f"{type(pipe).__name__} has no VAE to encode conditions with")
    return LatentSpace(pipe)
