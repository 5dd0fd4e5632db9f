"""The embedded default model: a small Wan-architecture pipeline trained here at fixed sizes
and lengths. Its numbers come from `models.embedded` so training and serving cannot disagree."""

from models import embedded
from models.families.base import FamilySpec, FrameRule


_CAPTION_STYLE = embedded.PIPELINE_DIR.parent / "caption_style.md"

EMBEDDED = FamilySpec(
    name="embedded",
    pipeline_class="WanPipeline",
    # Wan's VAE: 4x temporal compression after the first frame (17 and 9 frames: 5 and 3 latents).
    frame_rule=FrameRule(multiple=4, offset=1),
    spatial_multiple=16,
    default_size=embedded.SIZES[0],
    # Only the sizes and lengths it was trained at.
    allowed_sizes=tuple(embedded.SIZES),
    min_side=16,
    max_side=max(int(side) for size in embedded.SIZES for side in size.split("x")),
    max_frames=max(embedded.FRAME_COUNTS),
    native_fps=embedded.FPS,
    default_steps=embedded.DEFAULT_STEPS,
    max_steps=200,
    default_guidance=embedded.DEFAULT_GUIDANCE,
    supports_negative_prompt=True,
    scheduler_notes="UniPCMultistepScheduler, flow matching with shift 3.0, as trained.",
    caption_style_path=_CAPTION_STYLE if _CAPTION_STYLE.exists() else None,
    default_frames=embedded.FRAME_COUNTS[0],
    allowed_frame_counts=tuple(sorted(embedded.FRAME_COUNTS)),
)
