"""Each shipped catalog entry resolved, without weights, into the exact `from_pretrained` and
pipeline-call arguments a worker uses, compared with what the model's authors publish; then the
same settings reaching real (tiny) pipelines through the production loader."""

from unittest import mock

import numpy as np
import pytest
import torch

from models.catalog import CatalogEntry, load_catalog
from models.loader import ModelLoadError, compile_transformer, load_model
from models.recipe import call_arguments, load_arguments, resolve_offload, scheduler_overrides
from workers.runtime import sample


GIB = 1 << 30
SHIPPED = load_catalog()

# The official default negative prompt: Wan2.1 and Wan2.2 `wan/configs/shared_config.py`,
# `sample_neg_prompt` (https://github.com/Wan-Video/Wan2.2).
WAN_NEGATIVE = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，"
    "形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)
# scheduler/scheduler_config.json of the Wan Diffusers checkpoints (UniPC, flow_shift 3.0).
WAN_SCHEDULER = {"_class_name": "UniPCMultistepScheduler", "flow_shift": 3.0, "use_flow_sigmas": True}


def params(entry: CatalogEntry, size: str | None = None, negative_prompt: str | None = None) -> dict:
    width, height = map(int, (size or entry.spec.default_size).split("x"))
    return {"height": height, "width": width, "fps": entry.spec.native_fps, "negative_prompt": negative_prompt}


@pytest.mark.parametrize("name", ["wan2.1-t2v-1.3b", "wan2.1-t2v-14b"])
def test_wan_2_1(name):
    entry = SHIPPED[name]
    # https://huggingface.co/Wan-AI/Wan2.1-T2V-14B-Diffusers: `AutoencoderKLWan.from_pretrained(...,
    # torch_dtype=torch.float32)`, `WanPipeline.from_pretrained(..., torch_dtype=torch.bfloat16)`.
    assert load_arguments(entry, "cuda") == {"dtype": {"default": torch.bfloat16, "vae": torch.float32}}
    assert resolve_offload(entry, "cuda", 80 * GIB) == "none"
    if name == "wan2.1-t2v-14b":
        # Same card: "flow_shift = 5.0 # 5.0 for 720P, 3.0 for 480P"; the checkpoint ships 3.0.
        assert scheduler_overrides(entry, WAN_SCHEDULER, 480, 832) == {}
        assert scheduler_overrides(entry, WAN_SCHEDULER, 720, 1280) == {"flow_shift": 5.0}
        assert scheduler_overrides(entry, WAN_SCHEDULER, 1280, 720) == {"flow_shift": 5.0}
        assert entry.spec.default_guidance == 5.0
    else:
        # https://huggingface.co/Wan-AI/Wan2.1-T2V-1.3B: "If you are using the T2V-1.3B model, we
        # recommend setting the parameter --sample_guide_scale 6. The --sample_shift parameter can be
        # adjusted within the range of 8 to 12"; its example runs `--sample_shift 8`.
        assert scheduler_overrides(entry, WAN_SCHEDULER, 480, 832) == {"flow_shift": 8.0}
        assert entry.spec.default_guidance == 6.0
    # 81 frames at 16 fps, as the cards' examples; the official negative prompt.
    assert (entry.spec.default_frames, entry.spec.native_fps) == (81, 16)
    assert call_arguments(entry, params(entry), "UniPCMultistepScheduler") == {"negative_prompt": WAN_NEGATIVE}
    # A request's own negative prompt wins; an explicit empty one means none.
    assert call_arguments(entry, params(entry, negative_prompt="blur"), "x") == {"negative_prompt": "blur"}
    assert call_arguments(entry, params(entry, negative_prompt=""), "x") == {}


def test_wan_2_2_a14b():
    entry = SHIPPED["wan2.2-t2v-a14b"]
    # https://huggingface.co/Wan-AI/Wan2.2-T2V-A14B-Diffusers: VAE float32, transformers bf16.
    assert load_arguments(entry, "cuda") == {"dtype": {"default": torch.bfloat16, "vae": torch.float32}}
    # Two 14B experts do not fit an 80 GB GPU together with activations at 720p.
    assert resolve_offload(entry, "cuda", 80 * GIB) == "model"
    # Official config, wan/configs/wan_t2v_A14B.py: sample_shift = 12.0, sample_steps = 40,
    # sample_guide_scale = (3.0, 4.0)  # low noise, high noise.
    for height, width in ((480, 832), (720, 1280)):
        assert scheduler_overrides(entry, WAN_SCHEDULER, height, width) == {"flow_shift": 12.0}
    assert (entry.spec.default_steps, entry.spec.default_guidance) == (40, 4.0)
    assert call_arguments(entry, params(entry), "UniPCMultistepScheduler") == {
        "negative_prompt": WAN_NEGATIVE,
        "guidance_scale_2": 3.0,
    }


def test_ltx_video():
    entry = SHIPPED["ltx-video-0.9"]
    # https://huggingface.co/Lightricks/LTX-Video (diffusers example): bf16; decode_timestep=0.03,
    # decode_noise_scale=0.025; negative prompt "worst quality, inconsistent motion, blurry, jittery,
    # distorted"; 24 fps. The reference pipeline (github.com/Lightricks/LTX-Video,
    # ltx_video/pipelines/pipeline_ltx_video.py) encodes `text_encoder_max_tokens: int = 256` T5
    # tokens, where the diffusers pipeline's `max_sequence_length` defaults to 128.
    assert load_arguments(entry, "cuda") == {"dtype": {"default": torch.bfloat16}}
    # Its scheduler shifts by resolution itself (use_dynamic_shifting): left alone.
    ltx_scheduler = {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 1.0, "use_dynamic_shifting": True}
    assert scheduler_overrides(entry, ltx_scheduler, 480, 704) == {}
    assert call_arguments(entry, params(entry), "FlowMatchEulerDiscreteScheduler") == {
        "decode_timestep": 0.03,
        "decode_noise_scale": 0.025,
        "max_sequence_length": 256,
        "frame_rate": 24,
        "negative_prompt": "worst quality, inconsistent motion, blurry, jittery, distorted",
    }


def test_cogvideox():
    two, five = SHIPPED["cogvideox-2b"], SHIPPED["cogvideox-5b"]
    # https://huggingface.co/THUDM/CogVideoX-2b: torch_dtype=torch.float16.
    assert load_arguments(two, "cuda") == {"dtype": {"default": torch.float16}}
    # https://huggingface.co/THUDM/CogVideoX-5b: torch_dtype=torch.bfloat16, use_dynamic_cfg=True
    # (with the DPM scheduler it ships; the 2B ships DDIM).
    assert load_arguments(five, "cuda") == {"dtype": {"default": torch.bfloat16}}
    assert call_arguments(two, params(two), "CogVideoXDDIMScheduler") == {}
    assert call_arguments(five, params(five), "CogVideoXDPMScheduler") == {"use_dynamic_cfg": True}
    # Both cards: 49 frames at 720x480, 8 fps, 50 steps, guidance 6.
    spec = five.spec
    assert (spec.default_size, spec.default_frames, spec.native_fps, spec.default_steps) == ("720x480", 49, 8, 50)
    assert spec.default_guidance == 6.0


def test_hunyuan_video():
    entry = SHIPPED["hunyuanvideo"]
    # https://huggingface.co/docs/diffusers/api/pipelines/hunyuan_video: transformer in bf16, the
    # rest of the pipeline (Llama and CLIP text encoders, VAE) in float16.
    assert load_arguments(entry, "cuda") == {"dtype": {"default": torch.float16, "transformer": torch.bfloat16}}
    # https://huggingface.co/tencent/HunyuanVideo: 60 GB peak at 720x1280x129 (45 GB at 544x960):
    # resident on an 80 GB GPU, offloaded on a 48 GB one; never on CPU.
    assert resolve_offload(entry, "cuda", 80 * GIB) == "none"
    assert resolve_offload(entry, "cuda", 48 * GIB) == "model"
    assert resolve_offload(entry, "cpu", None) == "none"
    # Guidance is distilled (6.0 embedded); no negative prompt without true CFG.
    assert call_arguments(entry, params(entry, negative_prompt="blur"), "FlowMatchEulerDiscreteScheduler") == {}


def test_mochi():
    entry = SHIPPED["mochi-1-preview"]
    # https://huggingface.co/genmo/mochi-1-preview: MochiPipeline.from_pretrained(
    # "genmo/mochi-1-preview", variant="bf16", torch_dtype=torch.bfloat16).
    assert load_arguments(entry, "cuda") == {"dtype": {"default": torch.bfloat16}, "variant": "bf16"}
    assert call_arguments(entry, params(entry), "FlowMatchEulerDiscreteScheduler") == {}
    assert (entry.spec.native_fps, entry.spec.default_guidance, entry.spec.default_steps) == (30, 4.5, 64)


def test_cpu_runs_everything_in_float32():
    assert load_arguments(SHIPPED["hunyuanvideo"], "cpu") == {"dtype": {"default": torch.float32}}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"family": "ltx", "guidance_scale_2": 3.0}, "guidance_scale_2 is for Wan 2.2"),
        ({"offload": "auto"}, 'offload = "auto" needs gpu_memory_gb'),
        ({"flow_shift": {"hd": 5.0}}, "flow_shift key 'hd' is not a short side"),
        ({"dtype": {"vae": "float64"}}, "dtype"),
    ],
)
def test_impossible_recipe_options_are_catalog_errors(options, message):
    with pytest.raises(ValueError, match=message):
        CatalogEntry(name="probe", **{"family": "wan", "path": "builtin:tiny-wan", **options})


# The same settings through the production loader, on tiny pipelines.


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("recipes")


def spy_call(model, **overrides) -> dict:
    pipeline_class = type(model.pipeline)
    run = {
        "prompt": "a red ball moving left",
        "negative_prompt": None,
        "height": 32,
        "width": 32,
        "num_frames": 9,
        "num_inference_steps": 2,
        "guidance_scale": 2.0,
        "seed": 0,
        "fps": 8,
        **overrides,
    }
    with mock.patch.object(pipeline_class, "__call__", autospec=True, side_effect=pipeline_class.__call__) as spy:
        sample(model, run, lambda done, total: None)
    return spy.call_args.kwargs


def test_component_dtypes_reach_the_loaded_pipeline(data_dir):
    entry = CatalogEntry(
        name="probe", family="wan", path="builtin:tiny-wan", dtype={"default": "float32", "vae": "bfloat16"}
    )
    model = load_model(entry, data_dir)
    assert model.pipeline.vae.dtype == torch.bfloat16
    assert model.pipeline.transformer.dtype == torch.float32 == model.dtype
    assert model.pipeline.text_encoder.dtype == torch.float32


def test_a_dtype_for_a_missing_component_is_refused(data_dir):
    entry = CatalogEntry(name="probe", family="wan", path="builtin:tiny-wan", dtype={"transformer_3": "float16"})
    with pytest.raises(ModelLoadError, match="dtype names transformer_3, which the pipeline does not have"):
        load_model(entry, data_dir)


def test_second_expert_guidance_reaches_wan_2_2_and_needs_two_experts(data_dir):
    model = load_model(
        CatalogEntry(name="probe", family="wan", path="builtin:tiny-wan22", guidance_scale_2=1.5), data_dir
    )
    kwargs = spy_call(model)
    assert (kwargs["guidance_scale"], kwargs["guidance_scale_2"]) == (2.0, 1.5)
    assert kwargs["negative_prompt"] == WAN_NEGATIVE
    single = CatalogEntry(name="probe", family="wan", path="builtin:tiny-wan", guidance_scale_2=1.5)
    with pytest.raises(ModelLoadError, match="guidance_scale_2 needs a checkpoint with two experts"):
        load_model(single, data_dir)


def test_flow_shift_follows_the_videos_size(data_dir):
    # Tiers scaled down to tiny sizes: up to 32 px on the short side 2.0, above it 7.0.
    entry = CatalogEntry(name="probe", family="wan", path="builtin:tiny-wan", flow_shift={"32p": 2.0, "64p": 7.0})
    model = load_model(entry, data_dir)
    spy_call(model, height=32, width=48)
    assert model.pipeline.scheduler.config.shift == 2.0
    spy_call(model, height=48, width=48)
    assert model.pipeline.scheduler.config.shift == 7.0


@pytest.mark.parametrize(
    ("path", "family", "regional"),
    [
        ("builtin:tiny-wan", "wan", True),
        ("builtin:tiny-ltx", "ltx", True),
        ("builtin:tiny-hunyuan", "hunyuan", True),
        ("builtin:tiny-cogvideox", "cogvideox", False),
        ("builtin:tiny-mochi", "mochi", False),
    ],
)
def test_compile_takes_the_repeated_blocks_where_diffusers_knows_them(data_dir, path, family, regional):
    # Wrapping only (torch compiles at the first call, on a GPU: tests/models/test_gpu_paths.py).
    transformer = load_model(CatalogEntry(name="probe", family=family, path=path), data_dir).pipeline.transformer
    compile_transformer(transformer)
    compiled = [m for m in transformer.modules() if getattr(m, "_compiled_call_impl", None) is not None]
    if regional:
        # A new video size then recompiles one block, not the whole model.
        assert transformer._compiled_call_impl is None
        assert compiled and {type(m).__name__ for m in compiled} <= set(transformer._repeated_blocks)
    else:
        assert compiled == [transformer]


def test_wan_2_2_remix_runs_with_its_second_expert_guidance(data_dir):
    # The video-to-video pipeline has one transformer and no guidance_scale_2 to take.
    from workers.conditioning import Conditions, SourceVideo

    model = load_model(
        CatalogEntry(name="probe", family="wan", path="builtin:tiny-wan22", guidance_scale_2=1.5), data_dir
    )
    source = np.random.default_rng(0).random((9, 32, 32, 3), dtype=np.float32)
    run = {
        "prompt": "a red ball moving left",
        "negative_prompt": None,
        "height": 32,
        "width": 32,
        "num_frames": 9,
        "num_inference_steps": 4,
        "guidance_scale": 2.0,
        "seed": 0,
        "fps": 8,
    }
    conditions = Conditions(video=SourceVideo(data=source, strength=0.5))
    assert sample(model, run, lambda done, total: None, conditions=conditions).frames.shape == (9, 32, 32, 3)
