"""CogVideoX 1.0 (`CogVideoXPipeline`, 2B and 5B): 8x spatial / 4x temporal VAE, 2x2 patches."""

from pathlib import Path

from models.families.base import FamilySpec, FrameRule


COGVIDEOX = FamilySpec(
    name="cogvideox",
    pipeline_class="CogVideoXPipeline",
    image_pipeline_classes=("CogVideoXImageToVideoPipeline",),
    # The VAE decodes latent frames two at a time and only an odd latent count comes back as
    # 4(n-1)+1 frames, so exact lengths are 8k+1.
    frame_rule=FrameRule(multiple=8, offset=1),
    # 8x VAE times 2x2 patches (`check_inputs` only checks 8, but odd latent sides lose a row).
    spatial_multiple=16,
    default_size="720x480",
    # CogVideoX 1.0 was trained at one size and one length only (1.5 relaxes both).
    allowed_sizes=("720x480",),
    min_side=16,
    max_side=720,
    max_frames=49,
    native_fps=8,
    default_steps=50,
    max_steps=200,
    default_guidance=6.0,
    supports_negative_prompt=True,
    scheduler_notes=(
        "2B ships CogVideoXDDIMScheduler, 5B CogVideoXDPMScheduler; dynamic CFG (`use_dynamic_cfg`) "
        "is turned on for the DPM scheduler only, as the reference inference script does."
    ),
    caption_style_path=Path(__file__).with_name("cogvideox_caption_style.md"),
    default_frames=49,
    allowed_frame_counts=(49,),
    scheduler_call_kwargs={"CogVideoXDPMScheduler": {"use_dynamic_cfg": True}},
)
