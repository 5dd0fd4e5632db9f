"""Wan 2.1 / 2.2 text-to-video (`WanPipeline`): causal 3D VAE (8x spatial, 4x temporal) + DiT."""

from pathlib import Path

from models.families.base import FamilySpec, FrameRule


WAN = FamilySpec(
    name="wan",
    pipeline_class="WanPipeline",
    # The VAE compresses time 4x after the first frame, so frames are 4k+1.
    frame_rule=FrameRule(multiple=4, offset=1),
    # 8x VAE downsampling times the transformer's 2x2 patches.
    spatial_multiple=16,
    default_size="832x480",
    allowed_sizes=None,
    min_side=16,
    max_side=1280,
    max_frames=81,
    native_fps=16,
    default_steps=50,
    max_steps=200,
    default_guidance=5.0,
    supports_negative_prompt=True,
    scheduler_notes=(
        "UniPCMultistepScheduler with flow_shift 3.0 (480p) or 5.0 (720p). Wan 2.2 A14B checkpoints hold "
        "a second transformer for the low-noise steps (`transformer_2`, switched at `boundary_ratio` "
        "0.875); `guidance_scale_2` then defaults to `guidance_scale`."
    ),
    caption_style_path=Path(__file__).with_name("wan_caption_style.md"),
    # 5 seconds at 16 fps, the length both Wan 2.1 and 2.2 were trained at.
    default_frames=81,
)
