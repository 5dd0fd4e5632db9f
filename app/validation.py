"""Check a create request against the model's family rules before anything is queued.

Every message names the parameter, the value and what is allowed, diffusers-style:
"size 100x64: width and height must be multiples of 16 for model 'wan2.1-t2v-1.3b'".
"""

import math
import re
from dataclasses import dataclass

from app.errors import InvalidRequest
from app.schemas import CreateVideoRequest
from app.settings import Settings
from models.catalog import Catalog, CatalogEntry
from models.families import FamilySpec


SIZE_RE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
DEFAULT_SECONDS = "4"


@dataclass(frozen=True)
class ResolvedRequest:
    model: str
    width: int
    height: int
    seconds: str
    fps: int
    num_frames: int
    num_inference_steps: int
    guidance_scale: float
    negative_prompt: str | None

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def resolve_model_name(requested: str | None, catalog: Catalog, settings: Settings) -> str:
    aliases = {"sora-2": settings.sora_2_model, "sora-2-pro": settings.sora_2_pro_model}
    name = requested or settings.default_model
    if name in aliases:
        name = aliases[name] or settings.default_model
    if name not in catalog:
        raise InvalidRequest(
            f"model {requested!r} is not served here; available models: {', '.join(catalog.names())}",
            param="model",
            code="model_not_found",
        )
    return name


def _resolve_size(raw: str | None, entry: CatalogEntry) -> tuple[int, int]:
    spec = entry.spec
    text = raw or spec.default_size
    match = SIZE_RE.match(text.strip().lower())
    if not match:
        raise InvalidRequest(f"size {text!r} is not of the form WIDTHxHEIGHT (e.g. {spec.default_size})", param="size")
    width, height = int(match[1]), int(match[2])
    if spec.allowed_sizes is not None:
        if f"{width}x{height}" not in spec.allowed_sizes:
            raise InvalidRequest(
                f"size {text!r} is not available for model {entry.name!r}; allowed sizes: "
                f"{', '.join(spec.allowed_sizes)}",
                param="size",
            )
        return width, height
    m = spec.spatial_multiple
    if width % m or height % m:
        raise InvalidRequest(
            f"size {text!r}: width and height must be multiples of {m} for model {entry.name!r} "
            f"(family {spec.name}); nearest is {round(width / m) * m or m}x{round(height / m) * m or m}",
            param="size",
        )
    for side in (width, height):
        if not spec.min_side <= side <= spec.max_side:
            raise InvalidRequest(
                f"size {text!r}: each side must be between {spec.min_side} and {spec.max_side} "
                f"pixels for model {entry.name!r}",
                param="size",
            )
    return width, height


def _longest_frame_count(spec: FamilySpec) -> int:
    if spec.allowed_frame_counts:
        return max(n for n in spec.allowed_frame_counts if n <= spec.max_frames)
    rule = spec.frame_rule
    return rule.offset + rule.multiple * ((spec.max_frames - rule.offset) // rule.multiple)


def _default_seconds(fps: int, entry: CatalogEntry) -> str:
    """The length a request without `seconds` gets: the family's default frames, within limits."""
    spec = entry.spec
    if spec.default_frames is None:
        return DEFAULT_SECONDS
    frames = min(spec.default_frames, _longest_frame_count(spec))
    return format((frames - 1) / fps, "g")


def _resolve_frames(seconds_text: str, fps: int, entry: CatalogEntry) -> int:
    spec = entry.spec
    try:
        seconds = float(seconds_text)
    except ValueError:
        raise InvalidRequest(f"seconds {seconds_text!r} is not a number", param="seconds") from None
    max_seconds = (_longest_frame_count(spec) - 1) / fps
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidRequest(f"seconds {seconds_text!r} must be a positive number", param="seconds")
    frames = spec.frame_rule.at_least(round(seconds * fps))
    if spec.allowed_frame_counts:
        fitting = [n for n in spec.allowed_frame_counts if frames <= n <= spec.max_frames]
        if not fitting:
            counts = ", ".join(str(n) for n in spec.allowed_frame_counts if n <= spec.max_frames)
            raise InvalidRequest(
                f"seconds {seconds_text!r} at {fps} fps needs {frames} frames, but model {entry.name!r} only makes "
                f"{counts} frames; the longest is {max_seconds:g} s at {fps} fps",
                param="seconds",
            )
        # Round up to the nearest trained length: never shorter than asked.
        return min(fitting)
    if frames > spec.max_frames:
        raise InvalidRequest(
            f"seconds {seconds_text!r} at {fps} fps needs {frames} frames, but model {entry.name!r} makes at "
            f"most {spec.max_frames} frames (frame counts are {spec.frame_rule.describe()}); the longest is "
            f"{max_seconds:g} s at {fps} fps",
            param="seconds",
        )
    return frames


def resolve_request(req: CreateVideoRequest, catalog: Catalog, settings: Settings) -> ResolvedRequest:
    if len(req.prompt) > settings.max_prompt_chars:
        raise InvalidRequest(
            f"prompt is {len(req.prompt)} characters; at most {settings.max_prompt_chars} are allowed",
            param="prompt",
        )
    name = resolve_model_name(req.model, catalog, settings)
    entry = catalog[name]
    spec = entry.spec
    width, height = _resolve_size(req.size, entry)
    fps = req.fps or spec.native_fps
    seconds = req.seconds if req.seconds is not None else _default_seconds(fps, entry)
    num_frames = _resolve_frames(seconds, fps, entry)
    steps = req.num_inference_steps or spec.default_steps
    if steps > spec.max_steps:
        raise InvalidRequest(
            f"num_inference_steps {steps} is above the maximum of {spec.max_steps} for model {name!r}",
            param="num_inference_steps",
        )
    if req.negative_prompt and not spec.supports_negative_prompt:
        raise InvalidRequest(
            f"model {name!r} (family {spec.name}) does not use negative prompts", param="negative_prompt"
        )
    return ResolvedRequest(
        model=name,
        width=width,
        height=height,
        seconds=seconds,
        fps=fps,
        num_frames=num_frames,
        num_inference_steps=steps,
        guidance_scale=req.guidance_scale if req.guidance_scale is not None else spec.default_guidance,
        negative_prompt=req.negative_prompt if req.negative_prompt is not None else spec.default_negative_prompt,
    )
