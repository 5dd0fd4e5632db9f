"""Dedicated diffusers pipelines for a family, used when they can take the conditions whole.

Each adapter answers `accepts(pipe, conditions)` and builds `(pipeline, kwargs)`. Pipelines that
share the text-to-video checkpoint's components are views over its modules (no weights copied);
image-to-video checkpoints (`WanImageToVideoPipeline`, `CogVideoXImageToVideoPipeline`,
`HunyuanVideoImageToVideoPipeline`, `LTXImageToVideoPipeline`) are used when the catalog entry
loads one. Anything else (latent pins, a pin that is not frame 0 where the pipeline cannot take
it, pins together with a source video) goes the generic way.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from workers.conditioning.conditions import Conditions
from workers.conditioning.latent_space import WAN_ENCODE_CHUNK, LatentSpace
from workers.conditioning.media import to_length


def _pil(frame: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8))


def _view(pipeline_class, pipe):
    """`pipeline_class` over `pipe`'s own modules and settings. Not `from_pipe`: it ends by
    casting every shared module in place to its `torch_dtype` (float32 when not given), so one
    remix would leave a resident bf16 transformer in float32 for every later video, at twice
    the memory, and no single dtype keeps Wan's float32 VAE beside its bf16 transformer."""
    modules, settings = pipeline_class._get_signature_keys(pipeline_class)
    shared = {name: value for name, value in pipe.components.items() if name in modules or name in settings}
    view = pipeline_class(**shared)
    # A new pipeline gets a fresh progress bar setting; workers log, not draw.
    view.set_progress_bar_config(disable=True)
    return view


def _video(frames: np.ndarray) -> list[Image.Image]:
    return [_pil(f) for f in frames]


@dataclass
class Media:
    """Decoded media of the conditions, in the render's size (see workers.conditioning.load)."""

    pins: list  # frames (F, H, W, 3) or latents, one per pin
    video: np.ndarray | None
    references: list = field(default_factory=list)  # one frame (1, H, W, 3) per reference


def _first_and_last_images(conditions: Conditions, media: Media, num_frames: int):
    """(first, last) images when the pins are exactly an image at frame 0 and/or the last frame."""
    first = last = None
    for pin, frames in zip(conditions.pins, media.pins, strict=True):
        if pin.latents or pin.frames != 1:
            return None
        if pin.at == 0:
            first = _pil(frames[-1])
        elif pin.at in (-1, num_frames - 1):
            last = _pil(frames[-1])
        else:
            return None
    return first, last


def _image_to_video(class_names: tuple[str, ...], takes_last: bool):
    def adapt(pipe, conditions: Conditions, media: Media, kwargs: dict):
        if type(pipe).__name__ not in class_names or conditions.video is not None:
            return None
        images = _first_and_last_images(conditions, media, kwargs["num_frames"])
        if images is None or images[0] is None or (images[1] is not None and not takes_last):
            return None
        call = {**kwargs, "image": images[0]}
        if images[1] is not None:
            call["last_image"] = images[1]
        return pipe, call

    return adapt


def _video_to_video(t2v_class: str, v2v_class_name: str):
    def adapt(pipe, conditions: Conditions, media: Media, kwargs: dict):
        if type(pipe).__name__ != t2v_class or conditions.video is None or conditions.pins:
            return None
        # The frames the text-to-video call would make (Wan adds one without temporal compression).
        count = LatentSpace(pipe).pipeline_frames(kwargs["num_frames"])
        if t2v_class == "WanPipeline" and (count - 1) % WAN_ENCODE_CHUNK:
            return None  # its VAE would drop the partial chunk; the generic path pads it
        import diffusers

        v2v = _view(getattr(diffusers, v2v_class_name), pipe)
        call = {k: v for k, v in kwargs.items() if k != "num_frames"}
        # WanVideoToVideoPipeline has one transformer and no `guidance_scale_2` (a Wan 2.2 entry passes it).
        if "guidance_scale_2" not in inspect.signature(type(v2v).__call__).parameters:
            call.pop("guidance_scale_2", None)
        frames = to_length(media.video, count)
        call.update(video=_video(frames), strength=conditions.video.strength)
        return v2v, call

    return adapt


def _ltx_condition(pipe, conditions: Conditions, media: Media, kwargs: dict):
    # Its SDEdit (`denoise_strength`) wants latents already encoded: the generic path does that.
    if type(pipe).__name__ != "LTXPipeline" or conditions.video is not None or not conditions.pins:
        return None
    if any(
        p.latents or (p.frames > 1 and p.frames % pipe.vae_temporal_compression_ratio != 1) for p in conditions.pins
    ):
        return None
    from diffusers import LTXConditionPipeline
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    items = []
    num_frames = kwargs["num_frames"]
    for pin, frames in zip(conditions.pins, media.pins, strict=True):
        start = pin.at if pin.at >= 0 else num_frames + pin.at
        if len(frames) == 1 and pin.frames == 1:
            items.append(LTXVideoCondition(image=_pil(frames[0]), frame_index=start))
        else:
            items.append(LTXVideoCondition(video=_video(frames[-pin.frames :]), frame_index=start))
    return _view(LTXConditionPipeline, pipe), {**kwargs, "conditions": items}


def _wan_vace(pipe, conditions: Conditions, media: Media, kwargs: dict):
    # Reference images alone (a character); pins and sources would need VACE's video and mask.
    if type(pipe).__name__ != "WanVACEPipeline" or not conditions.references or conditions.pins or conditions.video:
        return None
    return pipe, {**kwargs, "reference_images": [_pil(frames[0]) for frames in media.references]}


# Tried in order; the first that accepts wins.
ADAPTERS: list[Callable] = [
    _wan_vace,
    _image_to_video(("WanImageToVideoPipeline",), takes_last=True),
    _image_to_video(("CogVideoXImageToVideoPipeline", "HunyuanVideoImageToVideoPipeline"), takes_last=False),
    _image_to_video(("LTXImageToVideoPipeline",), takes_last=False),
    _video_to_video("WanPipeline", "WanVideoToVideoPipeline"),
    _video_to_video("CogVideoXPipeline", "CogVideoXVideoToVideoPipeline"),
    _ltx_condition,
]


def dedicated(pipe, conditions: Conditions, media: Media, kwargs: dict):
    """(pipeline, kwargs) of a dedicated pipeline for these conditions, or None. Only Wan VACE
    reads reference images; elsewhere a character reaches the model through its description."""
    for adapt in ADAPTERS:
        chosen = adapt(pipe, conditions, media, kwargs)
        if chosen is not None:
            return chosen
    return None
