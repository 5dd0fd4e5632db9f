"""What a model family can take: plain data, read by the API without torch."""

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FrameRule:
    """Legal frame counts are `multiple * k + offset` (Wan: 4k+1, LTX: 8k+1)."""

    multiple: int
    offset: int = 1

    def is_legal(self, frames: int) -> bool:
        return frames >= self.offset + self.multiple and (frames - self.offset) % self.multiple == 0

    def at_least(self, frames: int) -> int:
        """The smallest legal count that covers `frames` (never shortens a request)."""
        k = max(1, -(-(frames - self.offset) // self.multiple))
        return self.multiple * k + self.offset

    def describe(self) -> str:
        return f"{self.multiple}k+{self.offset}" if self.offset else f"a multiple of {self.multiple}"


@dataclass(frozen=True)
class FamilySpec:
    name: str
    # The diffusers class a checkpoint of this family loads as.
    pipeline_class: str
    frame_rule: FrameRule
    # Width and height must both be multiples of this (VAE downsampling × patch size).
    spatial_multiple: int
    default_size: str
    # When set, only these sizes are accepted; otherwise any multiple within the bounds.
    allowed_sizes: tuple[str, ...] | None
    min_side: int
    max_side: int
    max_frames: int
    native_fps: int
    default_steps: int
    max_steps: int
    default_guidance: float
    supports_negative_prompt: bool
    default_negative_prompt: str | None = None
    scheduler_notes: str = ""
    # The caption style the LLM step rewrites prompts into (a file next to the family).
    caption_style_path: Path | None = None
    extra_call_kwargs: dict = field(default_factory=dict)
    # Frames made when a request gives no `seconds` (capped at `max_frames`); None: 4 seconds.
    default_frames: int | None = None
    # When set, only these frame counts are accepted (a checkpoint trained at fixed lengths);
    # a request rounds up to the nearest one.
    allowed_frame_counts: tuple[int, ...] | None = None
    # The call argument that takes the video's fps, for pipelines conditioned on it (LTX).
    frame_rate_kwarg: str | None = None
    # Extra call arguments that depend on the checkpoint's scheduler class (CogVideoX-5b's
    # dynamic CFG is tuned for its DPM scheduler, not for the 2B's DDIM).
    scheduler_call_kwargs: dict[str, dict] = field(default_factory=dict)
    # What a request may condition on (workers/conditioning): `text` always; `image` (a first
    # frame), `video` (remix, edits) through the generic latent path every family takes; `reference`
    # (character images) only where a checkpoint has reference conditioning (Wan VACE).
    capabilities: tuple[str, ...] = ("text", "image", "video")
    # How strongly a remix or edit re-draws its source when the request says nothing (SDEdit).
    default_strength: float = 0.6
    # Other pipeline classes a checkpoint of the family may load as: ones that still make videos
    # from text alone and take more conditions (Wan VACE: reference images).
    conditioned_pipeline_classes: tuple[str, ...] = ()
    # Image-to-video checkpoints of the family (every video starts from an image): loadable by an
    # entry with `image_to_video = true`, whose requests must bring `input_reference`.
    image_pipeline_classes: tuple[str, ...] = ()

    @property
    def caption_style(self) -> str | None:
        return self.caption_style_path.read_text() if self.caption_style_path else None

    def as_public_dict(self) -> dict:
        return {
            "family": self.name,
            "pipeline_class": self.pipeline_class,
            "frame_rule": self.frame_rule.describe(),
            "spatial_multiple": self.spatial_multiple,
            "default_size": self.default_size,
            "allowed_sizes": list(self.allowed_sizes) if self.allowed_sizes else None,
            "min_side": self.min_side,
            "max_side": self.max_side,
            "max_frames": self.max_frames,
            "default_frames": self.default_frames,
            "allowed_frame_counts": list(self.allowed_frame_counts) if self.allowed_frame_counts else None,
            "native_fps": self.native_fps,
            "default_steps": self.default_steps,
            "max_steps": self.max_steps,
            "default_guidance": self.default_guidance,
            "supports_negative_prompt": self.supports_negative_prompt,
            "scheduler_notes": self.scheduler_notes,
            "capabilities": list(self.capabilities),
            "default_strength": self.default_strength,
        }
