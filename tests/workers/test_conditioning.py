"""The conditioning core on real pipelines: tiny seeded ones of every family, and the embedded
model, loaded through the production loader and sampled through `workers.runtime.sample`."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from models.catalog import CatalogEntry
from models.embedded import world
from models.loader import load_model
from workers.conditioning import ConditionError, Conditions, Pin, Reference, SourceVideo
from workers.conditioning.latent_space import LatentSpace
from workers.conditioning.media import fit_image
from workers.conditioning.schedule import kept_steps
from workers.encode import write_mp4
from workers.runtime import sample


# family -> (builtin path, height, width, frames): each family's smallest legal clip.
TINY = {
    "wan": ("builtin:tiny-wan", 32, 32, 9),
    "cogvideox": ("builtin:tiny-cogvideox", 32, 48, 9),
    "hunyuan": ("builtin:tiny-hunyuan", 32, 48, 9),
    "ltx": ("builtin:tiny-ltx", 32, 64, 9),
    "mochi": ("builtin:tiny-mochi", 32, 48, 7),
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("conditioning")


@pytest.fixture(scope="module")
def models(data_dir):
    loaded = {}

    def get(family: str):
        if family not in loaded:
            path = "builtin:embedded" if family == "embedded" else TINY[family][0]
            loaded[family] = load_model(CatalogEntry(name=family, family=family, path=path), data_dir)
        return loaded[family]

    return get


def params(family: str, **extra) -> dict:
    _, height, width, frames = TINY.get(family, (None, 64, 64, 9))
    base = {
        "prompt": "a red ball moving left",
        "negative_prompt": None,
        "num_inference_steps": 3,
        "guidance_scale": 1.0,
        "seed": 0,
        "fps": 8,
        "height": height,
        "width": width,
        "num_frames": frames,
    }
    return {**base, **extra}


def picture(height: int, width: int, seed: int = 3) -> np.ndarray:
    """A frame of the embedded model's world: a coloured shape on a plain background, (1, H, W, 3)."""
    spec = world.sample_spec(seed, width=width, height=height, num_frames=1)
    return world.render(spec).astype(np.float32) / 255.0


def encoded(model, frames: np.ndarray) -> torch.Tensor:
    with torch.inference_mode():
        return LatentSpace(model.pipeline).encode(frames)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def test_conditions_are_json_and_refuse_what_cannot_be_stored():
    conditions = Conditions(
        pins=[Pin(at=0, source="input_image"), Pin(at=-1, source="input_image")],
        video=SourceVideo(source="input_video", strength=0.3),
        references=[Reference(source="reference_image")],
    )
    assert Conditions.from_json(conditions.to_json()) == conditions
    assert conditions.sources() == {"input_image", "input_video", "reference_image"}
    assert not Conditions() and not Conditions.from_json(None)
    with pytest.raises(ConditionError, match="cannot be stored"):
        Conditions(pins=[Pin(data=np.zeros((1, 8, 8, 3)))]).to_json()
    with pytest.raises(ConditionError, match="unknown source"):
        Pin(source="../../etc/passwd")
    with pytest.raises(ConditionError, match="strength"):
        SourceVideo(source="input_video", strength=0)
    with pytest.raises(ConditionError, match="malformed"):
        Conditions.from_json({"pins": [{"where": 0}]})


@pytest.mark.parametrize("family", ["wan", "cogvideox", "hunyuan", "mochi"])
def test_a_pinned_first_frame_holds_the_images_latents_exactly(models, family):
    model = models(family)
    run = params(family)
    image = picture(run["height"], run["width"])
    result = sample(model, run, lambda done, total: None, conditions=Conditions(pins=[Pin(at=0, data=image)]))
    assert result.frames.shape == (run["num_frames"], run["height"], run["width"], 3)
    assert torch.equal(result.latents[:, :, :1], encoded(model, image))
    # The rest of the video is still sampled, not copied.
    assert not torch.equal(result.latents[:, :, 1:2], result.latents[:, :, :1])


def test_ltx_takes_images_through_its_condition_pipeline(models):
    model = models("ltx")
    run = params("ltx")
    image = picture(run["height"], run["width"])
    seen = []
    plain = sample(model, run, lambda done, total: None)
    pinned = sample(model, run, lambda done, total: seen.append(total), conditions=Conditions(pins=[Pin(data=image)]))
    assert pinned.frames.shape == plain.frames.shape and not np.allclose(pinned.frames, plain.frames)
    assert seen == [run["num_inference_steps"]] * run["num_inference_steps"]
    # LTXConditionPipeline loops over condition tokens too: no clean latents to hand back.
    assert pinned.latents is None and plain.latents.shape == (1, 8, 2, 1, 2)


def test_a_chunk_continues_from_the_previous_tail_latents_and_ends_on_an_image(models):
    """What a long video does: chunk 2 starts with chunk 1's last latent frames and ends on a frame."""
    model = models("wan")
    run = params("wan", num_frames=13)
    first = sample(model, run, lambda done, total: None)
    assert first.latents.shape == (1, 16, 4, 4, 4)
    last_image = picture(run["height"], run["width"], seed=9)
    conditions = Conditions(pins=[Pin(at=0, latents=True, frames=2, data=first.latents), Pin(at=-1, data=last_image)])
    second = sample(model, {**run, "seed": 1}, lambda done, total: None, conditions=conditions)
    assert torch.equal(second.latents[:, :, :2], first.latents[:, :, -2:])
    with torch.inference_mode():
        tail = LatentSpace(model.pipeline).encode_tail(last_image, 1)
    assert torch.equal(second.latents[:, :, -1:], tail)
    assert not torch.equal(second.latents[:, :, 2:3], first.latents[:, :, 2:3])


def test_stored_inputs_are_read_through_the_reader(models, tmp_path):
    model = models("hunyuan")
    run = params("hunyuan")
    # A larger image of another aspect: resized to cover, then centre-cropped.
    image = picture(64, 128)
    png = io.BytesIO()
    Image.fromarray((image[0] * 255).astype(np.uint8)).save(png, format="PNG")
    clip = world.render(world.sample_spec(4, width=48, height=32, num_frames=9)).astype(np.float32) / 255.0
    write_mp4(clip, 8, tmp_path / "source.mp4")
    stored = {"input_image": png.getvalue(), "input_video": (tmp_path / "source.mp4").read_bytes()}
    read = []

    def read_input(name: str) -> bytes:
        read.append(name)
        return stored[name]

    conditions = Conditions(pins=[Pin(source="input_image")], video=SourceVideo(source="input_video", strength=0.5))
    result = sample(model, run, lambda done, total: None, conditions=conditions, read_input=read_input)
    assert sorted(read) == ["input_image", "input_video"]
    fitted = np.asarray(fit_image(Image.open(io.BytesIO(png.getvalue())), 48, 32), dtype=np.float32) / 255.0
    assert torch.equal(result.latents[:, :, :1], encoded(model, fitted[None]))
    # Cover, then cut the middle: 128x64 -> 64x32 -> the centre 48 columns.
    halved = np.asarray(Image.fromarray((image[0] * 255).astype(np.uint8)).resize((64, 32)), dtype=np.float32) / 255
    assert np.abs(fitted - halved[:, 8:56]).mean() < 0.02


@pytest.mark.parametrize("family", ["wan", "cogvideox"])
def test_sdedit_runs_the_tail_of_the_schedule_and_progress_counts_it(models, family):
    """Wan and CogVideoX go through their video-to-video pipelines, the rest the generic path."""
    model = models(family)
    run = params(family, num_inference_steps=4)
    source = sample(model, run, lambda done, total: None)
    for strength in (0.5, 1.0):
        steps: list[tuple[int, int]] = []
        result = sample(
            model,
            {**run, "seed": 7},
            lambda done, total, seen=steps: seen.append((done, total)),
            conditions=Conditions(video=SourceVideo(data=source.frames, strength=strength)),
        )
        kept = kept_steps(4, strength)
        assert steps == [(i + 1, kept) for i in range(kept)]
        assert result.frames.shape == source.frames.shape


def test_pins_that_do_not_fit_are_refused_before_sampling(models):
    model = models("wan")
    run = params("wan")
    wrong = torch.zeros((1, 16, 2, 8, 8))
    with pytest.raises(ConditionError, match="do not match"):
        sample(model, run, lambda d, t: None, conditions=Conditions(pins=[Pin(latents=True, frames=2, data=wrong)]))
    with pytest.raises(ConditionError, match="outside"):
        sample(model, run, lambda d, t: None, conditions=Conditions(pins=[Pin(at=40, data=picture(32, 32))]))


def test_embedded_model_first_frame_is_the_input_image(models):
    """The embedded model's VAE is trained: its decode of a pinned image is the image."""
    model = models("embedded")
    run = params("embedded", num_inference_steps=4, guidance_scale=5.0)
    image = picture(64, 64)
    result = sample(model, run, lambda d, t: None, conditions=Conditions(pins=[Pin(data=image)]))
    temporal = LatentSpace(model.pipeline).temporal
    assert result.frames.shape[0] == run["num_frames"] and run["num_frames"] % temporal == 1 % temporal
    assert psnr(result.frames[0], image[0]) >= 25.0


def test_wan_vace_takes_a_characters_reference_image(data_dir):
    """A VACE checkpoint loads as a Wan model (through the production loader) and gets the
    stored reference image as `reference_images`; other families read the description only."""
    from unittest import mock

    from diffusers import WanVACEPipeline

    model = load_model(CatalogEntry(name="vace", family="wan", path="builtin:tiny-wan-vace"), data_dir)
    reference = io.BytesIO()
    Image.fromarray((picture(32, 32)[0] * 255).astype(np.uint8)).save(reference, format="PNG")
    conditions = Conditions(references=[Reference(source="reference_image")])
    with mock.patch.object(WanVACEPipeline, "__call__", autospec=True, side_effect=WanVACEPipeline.__call__) as spy:
        result = sample(
            model, params("wan"), lambda d, t: None, conditions=conditions, read_input=lambda name: reference.getvalue()
        )
    images = spy.call_args.kwargs["reference_images"]
    assert len(images) == 1 and images[0].size == (32, 32)
    assert result.frames.shape == (9, 32, 32, 3)


@pytest.mark.parametrize("family", ["wan", "ltx"])
def test_a_dedicated_pipeline_leaves_the_resident_models_dtypes_alone(data_dir, family):
    """Wan's video-to-video and LTX's condition pipeline share the resident pipeline's modules;
    `from_pipe` would cast them all in place to float32 (its default), so one remix would turn a
    resident bf16 transformer into float32 for every later video, twice its memory."""
    path, height, width, frames = TINY[family]
    # Wan as its card runs it (float32 VAE, bf16 transformer); LTX in bf16 throughout.
    dtypes = {"default": "float32", "transformer": "bfloat16"} if family == "wan" else "bfloat16"
    model = load_model(CatalogEntry(name=f"{family}-bf16", family=family, path=path, dtype=dtypes), data_dir)
    pipe = model.pipeline
    loaded = (pipe.transformer.dtype, pipe.vae.dtype)
    assert loaded == (torch.bfloat16, torch.float32 if family == "wan" else torch.bfloat16)
    run = params(family, num_inference_steps=2)
    if family == "wan":
        conditions = Conditions(video=SourceVideo(data=np.full((frames, height, width, 3), 0.5), strength=0.5))
    else:
        conditions = Conditions(pins=[Pin(data=picture(height, width))])
    sample(model, run, lambda done, total: None, conditions=conditions)
    assert (pipe.transformer.dtype, pipe.vae.dtype) == loaded
