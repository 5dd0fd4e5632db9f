"""LTX-Video (`LTXPipeline`): a VAE that compresses 32x in space and 8x in time, 1x1 patches."""

from pathlib import Path

from models.families.base import FamilySpec, FrameRule


LTX = FamilySpec(
    name="ltx",
    pipeline_class="LTXPipeline",
    image_pipeline_classes=("LTXImageToVideoPipeline",),
    # 8x temporal compression after the first frame: (num_frames - 1) must divide by 8.
    frame_rule=FrameRule(multiple=8, offset=1),
    # `check_inputs` rejects sides that are not multiples of 32 (the VAE's spatial factor).
    spatial_multiple=32,
    default_size="704x480",
    allowed_sizes=None,
    min_side=32,
    # Published guidance: below 720x1280 and 257 frames.
    max_side=1280,
    max_frames=257,
    native_fps=24,
    default_steps=50,
    max_steps=200,
    default_guidance=3.0,
    supports_negative_prompt=True,
    default_negative_prompt="worst quality, inconsistent motion, blurry, jittery, distorted",
    scheduler_notes=(
        "FlowMatchEulerDiscreteScheduler with resolution-dependent shift. The transformer's RoPE is "
        "scaled by `frame_rate`, so the video's fps is passed to the pipeline. 0.9.1+ VAEs are "
        "timestep-conditioned: decode_timestep 0.03 and decode_noise_scale 0.025 (0.9.0 ignores them)."
    ),
    caption_style_path=Path(__file__).with_name("ltx_caption_style.md"),
    # The pipeline's T5 cuts prompts at 128 tokens by default; the caption style asks for 100-180
    # words, which is 150-250 tokens.
    extra_call_kwargs={"decode_timestep": 0.03, "decode_noise_scale": 0.025, "max_sequence_length": 256},
    # The length of the published examples: 161 frames, about 6.7 s at 24 fps.
    default_frames=161,
    frame_rate_kwarg="frame_rate",
)
