"""Mochi 1 (`MochiPipeline`): 8x spatial / 6x temporal VAE, 2x2 patches, T5-XXL text encoder."""

from pathlib import Path

from models.families.base import FamilySpec, FrameRule


MOCHI = FamilySpec(
    name="mochi",
    pipeline_class="MochiPipeline",
    # The VAE compresses time 6x and drops the 5 extra frames it decodes: 6k+1 frames.
    frame_rule=FrameRule(multiple=6, offset=1),
    # `check_inputs` checks 8; the transformer's 2x2 patches need even latent sides, so 16.
    spatial_multiple=16,
    default_size="848x480",
    allowed_sizes=None,
    min_side=16,
    max_side=848,
    # 5.4 s at 30 fps, the longest clip the preview was trained on.
    max_frames=163,
    native_fps=30,
    default_steps=64,
    max_steps=200,
    default_guidance=4.5,
    supports_negative_prompt=True,
    scheduler_notes="FlowMatchEulerDiscreteScheduler with Mochi's linear-quadratic sigma schedule.",
    caption_style_path=Path(__file__).with_name("mochi_caption_style.md"),
    # About 2.8 s: the full 163 frames need far more memory than most single GPUs have.
    default_frames=85,
)
