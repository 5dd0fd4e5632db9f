"""HunyuanVideo (`HunyuanVideoPipeline`): 8x spatial / 4x temporal causal VAE, 2x2 patches,
Llama + CLIP text encoders, guidance distilled into the transformer."""

from pathlib import Path

from models.families.base import FamilySpec, FrameRule


HUNYUAN = FamilySpec(
    name="hunyuan",
    pipeline_class="HunyuanVideoPipeline",
    image_pipeline_classes=("HunyuanVideoImageToVideoPipeline",),
    # 4x temporal compression after the first frame.
    frame_rule=FrameRule(multiple=4, offset=1),
    # `check_inputs`: height and width divisible by 16 (8x VAE times 2x2 patches).
    spatial_multiple=16,
    default_size="1280x720",
    allowed_sizes=None,
    min_side=16,
    max_side=1280,
    max_frames=129,
    native_fps=24,
    default_steps=50,
    max_steps=200,
    # Embedded (distilled) guidance: one transformer pass per step, no unconditional branch.
    default_guidance=6.0,
    # Only true CFG (`true_cfg_scale` > 1, twice the compute) reads a negative prompt.
    supports_negative_prompt=False,
    scheduler_notes="FlowMatchEulerDiscreteScheduler with shift 7.0; guidance_scale is the distilled guidance.",
    caption_style_path=Path(__file__).with_name("hunyuan_caption_style.md"),
    default_frames=129,
)
