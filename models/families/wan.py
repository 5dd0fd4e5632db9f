"""Wan 2.1 / 2.2 text-to-video (`WanPipeline`): causal 3D VAE (8x spatial, 4x temporal) + DiT."""

from pathlib import Path

from models.families.base import FamilySpec, FrameRule


WAN = FamilySpec(
    name="wan",
    pipeline_class="WanPipeline",
    image_pipeline_classes=("WanImageToVideoPipeline",),
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
    # The official default negative prompt (Wan2.1 and Wan2.2 `wan/configs/shared_config.py`,
    # `sample_neg_prompt`; the Diffusers cards use its English translation). UMT5 reads Chinese.
    default_negative_prompt=(
        "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
        "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，"
        "形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
    ),
    scheduler_notes=(
        "UniPCMultistepScheduler with flow_shift 3.0 up to 480p and 5.0 above (Wan2.1 card); Wan 2.2 "
        "A14B uses 12.0 at every size (its official config). Wan 2.2 A14B checkpoints hold a second "
        "transformer for the low-noise steps (`transformer_2`, switched at `boundary_ratio` 0.875) with "
        "its own guidance, `guidance_scale_2` (published pair 4.0 / 3.0)."
    ),
    caption_style_path=Path(__file__).with_name("wan_caption_style.md"),
    # 5 seconds at 16 fps, the length both Wan 2.1 and 2.2 were trained at.
    default_frames=81,
    # VACE checkpoints make text-to-video too, and take a character's reference images.
    conditioned_pipeline_classes=("WanVACEPipeline",),
)
