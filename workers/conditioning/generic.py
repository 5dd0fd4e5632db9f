"""The generic path, for any family: pinned latents re-imposed at every step, SDEdit by
starting part-way down the schedule.

The known latents are kept canonical (see latent_space). The run passes its own starting
latents (`latents=`, in the loop's layout, on the execution device in float32, which every
pipeline here takes as they are); the pipeline's `set_timesteps` is wrapped for the duration of
the call so that, once the schedule is known, the schedule is trimmed (SDEdit) and the starting
latents are written in place at the first level. After each step `callback_on_step_end`
replaces the pinned frames with the known latents noised to the level the loop is now at, so
the last step leaves them exact.
"""

import functools
from dataclasses import dataclass

import numpy as np
import torch
from diffusers.utils.torch_utils import randn_tensor

from workers.conditioning import schedule
from workers.conditioning.conditions import ConditionError, Pin
from workers.conditioning.latent_space import LatentSpace


@dataclass
class Known:
    """Canonical latents that must hold at latent frames [start, start + count)."""

    start: int
    latents: torch.Tensor

    @property
    def count(self) -> int:
        return self.latents.shape[2]


def slot_of(space: LatentSpace, pixel_frame: int) -> int:
    """The latent frame that holds `pixel_frame` (a causal VAE: frame 0 has a slot of its own)."""
    return 0 if pixel_frame == 0 else 1 + (pixel_frame - 1) // space.temporal


def known_from_pin(space: LatentSpace, pin: Pin, media, num_frames: int) -> Known:
    """Where a pin lands in latent frames, and its latents there."""
    start_pixel = pin.at if pin.at >= 0 else num_frames + pin.at
    if not 0 <= start_pixel < num_frames:
        raise ConditionError(f"a pin at frame {pin.at} is outside a {num_frames}-frame video")
    # One past the slot of the last frame the video shows (a pipeline may make one more).
    end_slot = slot_of(space, num_frames - 1) + 1
    if pin.latents:
        latents = torch.as_tensor(media).float()
        if latents.ndim != 5:
            raise ConditionError(f"pinned latents must be (1, C, f, h, w), not {tuple(latents.shape)}")
        latents = latents[:, :, -pin.frames :]
        start = end_slot - latents.shape[2] if pin.at < 0 else slot_of(space, start_pixel)
        return Known(start, latents)
    frames = np.asarray(media, dtype=np.float32)
    if len(frames) == 1:
        frames = np.repeat(frames, pin.frames, axis=0)
    frames = frames[-pin.frames :]
    if start_pixel == 0:
        # From the first frame: the clip's own encoding, whole slots only.
        slots = (len(frames) - 1) // space.temporal + 1
        return Known(0, space.encode(frames[: 1 + (slots - 1) * space.temporal]))
    slots = max(1, len(frames) // space.temporal)
    start = min(slot_of(space, start_pixel), end_slot - slots)
    return Known(start, space.encode_tail(frames, slots))


class GenericRun:
    """One conditioned call of an unmodified pipeline."""

    def __init__(self, pipe, kwargs: dict, known: list[Known], source_frames: np.ndarray | None, strength: float):
        self.pipe = pipe
        self.space = LatentSpace(pipe)
        self.kwargs = dict(kwargs)
        self.scheduler = pipe.scheduler
        steps = kwargs["num_inference_steps"]
        self.keep = schedule.kept_steps(steps, strength) if source_frames is not None else steps
        self.shape = self.space.canonical_shape(kwargs["num_frames"], kwargs["height"], kwargs["width"])
        device = pipe._execution_device
        self.noise = randn_tensor(self.shape, generator=kwargs["generator"], device=device, dtype=torch.float32)
        self.source = None
        if source_frames is not None:
            self.source = self.space.encode(source_frames).to(device)
            if self.source.shape != self.noise.shape:
                raise ConditionError(
                    f"the source video encodes to {tuple(self.source.shape)}, the render needs {self.shape}"
                )
        self.mask = torch.zeros((1, 1, self.shape[2], 1, 1), dtype=torch.bool, device=device)
        self.known = torch.zeros(self.shape, dtype=torch.float32, device=device)
        for item in known:
            if item.start < 0 or item.start + item.count > self.shape[2]:
                raise ConditionError(
                    f"{item.count} pinned latent frames at {item.start} do not fit {self.shape[2]} latent frames"
                )
            if item.latents.shape[1] != self.shape[1] or item.latents.shape[3:] != self.shape[3:]:
                raise ConditionError(
                    f"pinned latents {tuple(item.latents.shape)} do not match the render's latents {self.shape}"
                )
            self.mask[:, :, item.start : item.start + item.count] = True
            self.known[:, :, item.start : item.start + item.count] = item.latents.to(device)
        self.start = self.space.to_loop(self.noise.clone()).contiguous()
        self.kwargs["latents"] = self.start
        self.final_latents: torch.Tensor | None = None
        self._original_set_timesteps = None

    @property
    def total_steps(self) -> int:
        return self.keep

    @property
    def pipeline(self):
        return self.pipe

    def _merge(self, canonical: torch.Tensor, position: int) -> torch.Tensor:
        if not self.mask.any():
            return canonical
        pinned = schedule.noised(self.scheduler, self.known, self.noise, position)
        return torch.where(self.mask, pinned.to(canonical.dtype), canonical)

    def _set_timesteps(self, *args, **kwargs):
        self._original_set_timesteps(*args, **kwargs)
        schedule.trim(self.scheduler, self.keep)
        begin = self.noise if self.source is None else schedule.noised(self.scheduler, self.source, self.noise, 0)
        self.start.copy_(self.space.to_loop(self._merge(begin, 0)))

    def __enter__(self):
        self._original_set_timesteps = original = self.scheduler.set_timesteps

        # Pipelines inspect set_timesteps' parameters (`sigmas`, `timesteps`): keep them visible.
        @functools.wraps(original)
        def set_timesteps(*args, **kwargs):
            return self._set_timesteps(*args, **kwargs)

        self.scheduler.set_timesteps = set_timesteps
        return self

    def __exit__(self, *exc):
        # The instance attribute shadowed the class method; removing it restores the original.
        del self.scheduler.set_timesteps
        return False

    def after_step(self, pipe, step_index: int, timestep, callback_kwargs: dict) -> dict:
        latents = callback_kwargs.get("latents")
        if latents is None:
            return callback_kwargs
        canonical = self._merge(self.space.from_loop(latents, self.shape), step_index + 1)
        if self.mask.any():
            callback_kwargs["latents"] = self.space.to_loop(canonical).to(latents.dtype)
        if step_index + 1 >= self.keep:
            self.final_latents = canonical.detach().float().cpu()
        return callback_kwargs
