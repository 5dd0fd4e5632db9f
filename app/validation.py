"""Check a create request against the model's family rules before anything is queued.

Every message names the parameter, the value and what is allowed, diffusers-style:
"size 100x64: width and height must be multiples of 16 for model 'wan2.1-t2v-1.3b'".

OpenAI's values work on every model: Sora's four sizes render at the model's nearest native size
of the same orientation and are scaled when encoding (the video says so in `warning`), and any
length up to `T2V_MAX_SECONDS` longer than the model's clip becomes a chain of chunks
(`chunk_frames` each; see workers/longvideo).
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
# The sizes OpenAI's Sora took; every model accepts them, scaling from a native size if need be.
SORA_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
# Dated snapshots of OpenAI's model names (`sora-2-2025-10-06`) map like the base name.
DATED_MODEL_RE = re.compile(r"^(sora-2(?:-pro)?)-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ResolvedRequest:
    model: str
    # What the model renders at; the delivered video is `output_width` x `output_height`.
    width: int
    height: int
    seconds: str
    fps: int
    num_frames: int
    num_inference_steps: int
    guidance_scale: float
    negative_prompt: str | None
    output_width: int = 0
    output_height: int = 0
    # Frames one render makes; a longer video is rendered as a chain of chunks of this length.
    chunk_frames: int = 0
    warning: str | None = None
    loop: bool = False

    def __post_init__(self):
        if not self.output_width:
            object.__setattr__(self, "output_width", self.width)
            object.__setattr__(self, "output_height", self.height)
        if not self.chunk_frames:
            object.__setattr__(self, "chunk_frames", self.num_frames)

    @property
    def size(self) -> str:
        """The delivered size (what the client asked for)."""
        return f"{self.output_width}x{self.output_height}"

    @property
    def render_size(self) -> str:
        return f"{self.width}x{self.height}"

    @property
    def is_chunked(self) -> bool:
        return self.num_frames > self.chunk_frames


def resolve_model_name(requested: str | None, catalog: Catalog, settings: Settings) -> str:
    aliases = {"sora-2": settings.sora_2_model, "sora-2-pro": settings.sora_2_pro_model}
    name = requested or settings.default_model
    dated = DATED_MODEL_RE.match(name)
    if dated and name not in catalog:
        name = dated[1]
    if name in aliases:
        name = aliases[name] or settings.default_model
    if name not in catalog:
        raise InvalidRequest(
            f"model {requested!r} is not served here; available models: {', '.join(catalog.names())}",
            param="model",
            code="model_not_found",
        )
    return name


def _parse_size(text: str, spec: FamilySpec) -> tuple[int, int]:
    match = SIZE_RE.match(text.strip().lower())
    if not match:
        raise InvalidRequest(f"size {text!r} is not of the form WIDTHxHEIGHT (e.g. {spec.default_size})", param="size")
    return int(match[1]), int(match[2])


def _size_problem(width: int, height: int, entry: CatalogEntry) -> str | None:
    """Why the model can't render `width`x`height` natively (None when it can)."""
    spec = entry.spec
    text = f"{width}x{height}"
    if spec.allowed_sizes is not None:
        if text not in spec.allowed_sizes:
            return f"size {text!r} is not available for model {entry.name!r}; allowed sizes: {', '.join(spec.allowed_sizes)}"
        return None
    m = spec.spatial_multiple
    if width % m or height % m:
        return (
            f"size {text!r}: width and height must be multiples of {m} for model {entry.name!r} "
            f"(family {spec.name}); nearest is {round(width / m) * m or m}x{round(height / m) * m or m}"
        )
    if not all(spec.min_side <= side <= spec.max_side for side in (width, height)):
        return f"size {text!r}: each side must be between {spec.min_side} and {spec.max_side} pixels for model {entry.name!r}"
    return None


def _orientation(width: int, height: int) -> int:
    return (width > height) - (width < height)


def nearest_native_size(width: int, height: int, spec: FamilySpec) -> tuple[int, int]:
    """The size the model renders closest to `width`x`height`: same orientation where the model
    has one, then the nearest aspect ratio, then the largest."""
    aspect = width / height
    if spec.allowed_sizes is not None:
        sizes = [tuple(map(int, s.split("x"))) for s in spec.allowed_sizes]
        same = [s for s in sizes if _orientation(*s) == _orientation(width, height)] or sizes
        return min(same, key=lambda s: (abs(math.log((s[0] / s[1]) / aspect)), -s[0] * s[1]))
    m = spec.spatial_multiple
    scale = min(1.0, spec.max_side / max(width, height))

    def fit(side: float) -> int:
        return min(max(round(side * scale / m) * m, m, spec.min_side), spec.max_side // m * m)

    return fit(width), fit(height)


def _resolve_size(raw: str | None, entry: CatalogEntry) -> tuple[int, int, int, int, str | None]:
    """(render width, render height, delivered width, delivered height, warning)."""
    text = raw or entry.spec.default_size
    width, height = _parse_size(text, entry.spec)
    problem = _size_problem(width, height, entry)
    if problem is None:
        return width, height, width, height, None
    if f"{width}x{height}" not in SORA_SIZES:
        raise InvalidRequest(problem, param="size")
    native_w, native_h = nearest_native_size(width, height, entry.spec)
    warning = (
        f"model {entry.name!r} renders {width}x{height} at its native size {native_w}x{native_h}; "
        f"the video is scaled to {width}x{height}"
    )
    return native_w, native_h, width, height, warning


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


def parse_seconds(seconds_text: str, settings: Settings, param: str = "seconds") -> float:
    """A length in seconds, positive and within the server's cap; the 400 names the cap."""
    cap = settings.max_seconds
    try:
        seconds = float(seconds_text)
    except ValueError:
        raise InvalidRequest(
            f"seconds {seconds_text!r} is not a number; give a whole number of seconds up to {cap}", param=param
        ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidRequest(
            f"seconds {seconds_text!r} must be a positive number of seconds, at most {cap}", param=param
        )
    if seconds > cap:
        raise InvalidRequest(
            f"seconds {seconds_text!r} is over this server's cap of {cap} seconds (T2V_MAX_SECONDS)", param=param
        )
    return seconds


def _single_clip_frames(seconds: float, fps: int, spec: FamilySpec) -> int | None:
    """The frames one render makes for `seconds`, or None when it takes more than one render."""
    frames = spec.frame_rule.at_least(round(seconds * fps))
    if spec.allowed_frame_counts:
        # Round up to the nearest trained length: never shorter than asked.
        fitting = [n for n in spec.allowed_frame_counts if frames <= n <= spec.max_frames]
        return min(fitting) if fitting else None
    return frames if frames <= spec.max_frames else None


def resolve_frames(seconds: float, fps: int, spec: FamilySpec) -> tuple[int, int]:
    """(frames delivered, frames per render). Longer than one clip: `seconds * fps + 1` frames,
    like a single clip's `4k+1`, made by chunks of the model's longest clip."""
    single = _single_clip_frames(seconds, fps, spec)
    if single is not None:
        return single, single
    return round(seconds * fps) + 1, _longest_frame_count(spec)


def resolve_request(req: CreateVideoRequest, catalog: Catalog, settings: Settings) -> ResolvedRequest:
    if len(req.prompt) > settings.max_prompt_chars:
        raise InvalidRequest(
            f"prompt is {len(req.prompt)} characters; at most {settings.max_prompt_chars} are allowed",
            param="prompt",
        )
    name = resolve_model_name(req.model, catalog, settings)
    entry = catalog[name]
    spec = entry.spec
    width, height, output_width, output_height, warning = _resolve_size(req.size, entry)
    fps = req.fps or spec.native_fps
    seconds = req.seconds if req.seconds is not None else _default_seconds(fps, entry)
    num_frames, chunk_frames = resolve_frames(parse_seconds(seconds, settings), fps, spec)
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
        output_width=output_width,
        output_height=output_height,
        chunk_frames=chunk_frames,
        warning=warning,
        loop=bool(req.loop),
    )
