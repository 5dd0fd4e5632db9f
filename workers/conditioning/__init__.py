"""Conditioning: one mechanism for images, remixes, edits, extensions, loops and long videos.

A render may carry `Conditions` (plain data, `conditions.py`; JSON in the record, never pickled):
frames pinned at positions (`Pin`), a source video re-drawn at a strength (`SourceVideo`, SDEdit)
and reference images (`Reference`). `workers.runtime.sample(model, params, on_step, conditions=...,
read_input=...)` applies them and returns, besides the frames, the final latents.

How the conditions reach the pipeline (`runs.begin`):
- a dedicated diffusers pipeline of the family when it can take them whole (`adapters.py`: Wan /
  CogVideoX video-to-video, LTX condition, image-to-video checkpoints);
- otherwise the generic path (`generic.py`), for any family: the pinned pixels are encoded with
  the pipeline's own VAE and normalised as that family normalises latents (`latent_space.py`);
  after every step (`callback_on_step_end`) the pinned latent frames are replaced by the known
  latents noised to the current level (flow matching: x = (1 - s) x0 + s noise); SDEdit starts
  from the source latents noised to `strength` on the tail of the schedule.

Frame arithmetic is read from the loaded VAE (`LatentSpace.temporal`), never assumed: with a
temporal factor t, latent frame 0 is pixel frame 0 and latent j >= 1 covers pixel frames
1 + (j-1)t .. jt, so a video has (num_frames - 1) // t + 1 latent frames.

For a chunked long video (chunk i+1 continues chunk i):

    from workers.conditioning import Conditions, Pin
    from workers.runtime import sample

    first = sample(model, params, on_step)              # first.latents: (1, C, f, h, w) float32, CPU
    k = 2                                               # latent frames of overlap
    conditions = Conditions(pins=[
        # The previous chunk's last k latent frames become this chunk's first k latent frames.
        Pin(at=0, latents=True, frames=k, data=first.latents),
        # An image as the last frame (a loop's first frame, a transition's target):
        Pin(at=-1, data=last_frame),                    # (1, H, W, 3) floats in [0, 1]
    ])
    second = sample(model, params, on_step, conditions=conditions)
    # second.frames[:1 + (k - 1) * t] re-decode the overlap: drop them when stitching.
    # second.latents is the next chunk's tail, and what a checkpoint stores.

Pixel tails work too (`Pin(at=0, frames=n, data=frames)`, the last n frames are used and encoded
as the start of a clip); with t > 1 they match a causal VAE's first slot better than latents
taken from the middle of a clip, which is the trade-off to measure. Stored media are named by
`source` (one of `INPUT_NAMES`); `read_input(name) -> bytes` fetches them (the render job reads
them from storage by video id), `.npy` bytes for latents. `Conditions.to_json()` refuses pins that
hold only in-process `data`: store the media first and name them.

This package's `__init__` imports no torch, so the API can build and validate `Conditions`.
"""

from workers.conditioning.conditions import (
    DEFAULT_SDEDIT_STRENGTH,
    INPUT_NAMES,
    ConditionError,
    Conditions,
    Pin,
    Reference,
    SourceVideo,
)


__all__ = [
    "DEFAULT_SDEDIT_STRENGTH",
    "INPUT_NAMES",
    "ConditionError",
    "Conditions",
    "Pin",
    "Reference",
    "SourceVideo",
]
