"""The catalog: public model names -> family, checkpoint location and loader options.

A TOML file users edit (`T2V_CATALOG`, else the shipped `catalog.toml`):

    [models."my-wan"]
    family = "wan"
    path = "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"   # hub id or local directory
    dtype = "bfloat16"
    [models."my-wan".limits]                     # optional: narrow the family's limits
    max_frames = 49

Unknown keys are errors, so a typo fails loudly at start-up instead of being ignored.
"""

import dataclasses
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from models.families import FamilySpec, get_family


SHIPPED_CATALOG = Path(__file__).with_name("catalog.toml")


class CatalogError(ValueError):
    """The catalog file is unreadable or names something impossible."""


class CacheOptions(BaseModel):
    """One of diffusers' cache accelerators for the transformer, with its threshold."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["first_block", "mag", "taylorseer", "faster", "pyramid_attention"]
    threshold: float | None = None
    # Further arguments of the diffusers config class (e.g. MagCache's `mag_ratios`), checked
    # against that class when a worker starts.
    options: dict[str, Any] = Field(default_factory=dict)


class LoraOptions(BaseModel):
    """LoRA weights fused into the denoiser at load (a step-distilled adapter; models/adapters.py)."""

    model_config = ConfigDict(extra="forbid")
    # A hub repository, a local directory or a local .safetensors file.
    path: str
    # The file inside a repository or directory holding several.
    weight_name: str | None = None
    scale: float = 1.0


class Limits(BaseModel):
    """Per-entry narrowing of the family's limits (e.g. a small checkpoint, a small GPU)."""

    model_config = ConfigDict(extra="forbid")
    default_size: str | None = None
    allowed_sizes: list[str] | None = None
    max_side: int | None = None
    max_frames: int | None = None
    default_frames: int | None = None
    allowed_frame_counts: list[int] | None = None
    native_fps: int | None = None
    default_steps: int | None = None
    max_steps: int | None = None
    default_guidance: float | None = None
    default_strength: float | None = Field(default=None, gt=0, le=1)


class CatalogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    family: str
    # A hub id, a local directory, or `builtin:<name>` for pipelines built in code.
    path: str
    description: str = ""
    # One dtype, or one per component (`{ default = "float16", transformer = "bfloat16" }`); `auto`
    # is the family's published choice on a GPU (models/recipe.py) and float32 on CPU.
    dtype: Literal["auto", "float32", "bfloat16", "float16"] | dict[str, Literal["float32", "bfloat16", "float16"]] = (
        "auto"
    )
    # Weights variant in the checkpoint (e.g. Mochi's "bf16" files instead of fp32 ones).
    variant: str | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # `auto`: model offload only on GPUs with less memory than `gpu_memory_gb`.
    offload: Literal["none", "model", "sequential", "auto"] = "none"
    gpu_memory_gb: float | None = Field(default=None, gt=0)
    # Scheduler shift: one value, or one per short side (`{ "480p" = 3.0, "720p" = 5.0 }`).
    flow_shift: float | dict[str, float] | None = None
    # Guidance of Wan 2.2's low-noise expert (the request's guidance_scale drives the high-noise one).
    guidance_scale_2: float | None = None
    vae_tiling: bool = False
    vae_slicing: bool = False
    compile: bool = False
    # Exact CPU speed-ups for Wan-architecture pipelines (models/cpu_speedups.py); off: stock diffusers.
    cpu_speedups: bool = True
    attention_backend: str | None = None
    cache: CacheOptions | None = None
    # A step-distilled entry also sets its own `limits.default_steps` and `default_guidance`.
    lora: LoraOptions | None = None
    # Videos rendered together in one pipeline call (workers/batching.py); unset: T2V_MAX_BATCH.
    max_batch: int | None = Field(default=None, ge=1)
    limits: Limits = Field(default_factory=Limits)
    # Replaces the family's capabilities: fewer for a checkpoint that cannot, `reference` for one
    # with reference conditioning. `text` is implied.
    capabilities: list[Literal["text", "image", "video", "reference"]] | None = None
    # An image-to-video checkpoint (the family's `image_pipeline_classes`): every video starts from
    # `input_reference`; text alone, chunks, remixes and extensions are refused. Its capabilities: image.
    image_to_video: bool = False

    @model_validator(mode="after")
    def _family_exists(self):
        try:
            get_family(self.family)
        except KeyError as exc:
            raise ValueError(str(exc)) from None
        problems = _limit_problems(self.spec)
        if problems:
            raise ValueError(f"limits break the {self.family} family's rules: {'; '.join(problems)}")
        problems = _recipe_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        if self.image_to_video and self.capabilities is not None:
            raise ValueError("an image_to_video entry takes images only: drop `capabilities`")
        if self.image_to_video and not get_family(self.family).image_pipeline_classes:
            raise ValueError(f"family {self.family!r} has no image-to-video pipeline")
        return self

    @cached_property
    def spec(self) -> FamilySpec:
        """The family's spec with this entry's limits applied."""
        overrides = {k: v for k, v in self.limits.model_dump().items() if v is not None}
        for key in ("allowed_sizes", "allowed_frame_counts"):
            if key in overrides:
                overrides[key] = tuple(overrides[key])
        if self.image_to_video:
            overrides["capabilities"] = ("image",)
        elif self.capabilities is not None:
            overrides["capabilities"] = tuple(dict.fromkeys(["text", *self.capabilities]))
        return dataclasses.replace(get_family(self.family), **overrides)

    def public_dict(self, live: bool) -> dict:
        return {
            "id": self.name,
            "object": "model",
            "created": 0,
            "owned_by": "t2v",
            "description": self.description,
            "live": live,
            **self.spec.as_public_dict(),
        }


def _recipe_problems(entry: "CatalogEntry") -> list[str]:
    problems = []
    if entry.offload == "auto" and entry.gpu_memory_gb is None:
        problems.append('offload = "auto" needs gpu_memory_gb (the memory it needs without offload)')
    if isinstance(entry.flow_shift, dict):
        if not entry.flow_shift:
            problems.append("flow_shift table is empty")
        for side in entry.flow_shift:
            if not side.removesuffix("p").isdigit():
                problems.append(f'flow_shift key {side!r} is not a short side such as "480p"')
    if entry.guidance_scale_2 is not None and entry.spec.pipeline_class != "WanPipeline":
        problems.append("guidance_scale_2 is for Wan 2.2's second expert only")
    return problems


def _limit_problems(spec: FamilySpec) -> list[str]:
    """What in a spec (after an entry's limits) no request could ever satisfy."""
    problems = []
    for size in {spec.default_size, *(spec.allowed_sizes or ())}:
        sides = size.split("x")
        if len(sides) != 2 or not all(side.isdigit() for side in sides):
            problems.append(f"size {size!r} is not WIDTHxHEIGHT")
        elif spec.allowed_sizes is None and not all(
            int(side) % spec.spatial_multiple == 0 and spec.min_side <= int(side) <= spec.max_side for side in sides
        ):
            problems.append(
                f"default_size {size!r} needs sides that are multiples of {spec.spatial_multiple} "
                f"between {spec.min_side} and {spec.max_side}"
            )
    if spec.allowed_sizes is not None and spec.default_size not in spec.allowed_sizes:
        problems.append(f"default_size {spec.default_size!r} is not among allowed_sizes")
    rule = spec.frame_rule
    for frames in spec.allowed_frame_counts or ():
        if not rule.is_legal(frames):
            problems.append(f"allowed frame count {frames} is not {rule.describe()}")
    if min(spec.allowed_frame_counts or (rule.offset + rule.multiple,)) > spec.max_frames:
        problems.append(f"max_frames {spec.max_frames} is below the shortest clip the family makes")
    if spec.default_steps > spec.max_steps:
        problems.append(f"default_steps {spec.default_steps} is above max_steps {spec.max_steps}")
    return problems


class Catalog:
    def __init__(self, entries: dict[str, CatalogEntry], source: Path):
        self.entries = entries
        self.source = source

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def __getitem__(self, name: str) -> CatalogEntry:
        return self.entries[name]

    def names(self) -> list[str]:
        return sorted(self.entries)


def load_catalog(path: Path | None = None) -> Catalog:
    source = Path(path) if path else SHIPPED_CATALOG
    try:
        raw = tomllib.loads(source.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogError(f"cannot read catalog {source}: {exc}") from exc
    entries: dict[str, CatalogEntry] = {}
    for name, body in (raw.get("models") or {}).items():
        try:
            entries[name] = CatalogEntry(name=name, **body)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
            raise CatalogError(f"catalog {source}: model {name!r}: {problems}") from None
    if not entries:
        raise CatalogError(f'catalog {source} names no models (expected [models."name"] tables)')
    return Catalog(entries, source)
