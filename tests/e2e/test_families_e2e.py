"""Every family end to end: a tiny random pipeline of the family's real diffusers classes, built in
code, saved with `save_pretrained`, loaded by a real worker through the production loader, and
served through the openai client. One worker serves all of them, as a multi-model GPU box would."""

import httpx
import openai
import pytest

from tests.media import decode_mp4


FAMILY_MODELS = ["tiny-ltx", "tiny-cogvideox", "tiny-hunyuan", "tiny-mochi", "tiny-embedded", "tiny-wan22"]

# model, request, and what the family's rules make of it: (frames, height, width, fps)
CASES = [
    # LTX: sides multiples of 32; 2 s at 8 fps is 16 frames, 8k+1 rounds up to 17.
    ("tiny-ltx", {"size": "64x32", "seconds": "2"}, (17, 32, 64, 8)),
    # CogVideoX: one size, one length, whatever the request asks (1 s -> 9 frames).
    ("tiny-cogvideox", {"size": "48x32", "seconds": "1"}, (9, 32, 48, 8)),
    # HunyuanVideo: 4k+1, so 1.5 s at 8 fps = 12 frames becomes 13.
    ("tiny-hunyuan", {"size": "32x48", "seconds": "1.5"}, (13, 48, 32, 8)),
    # Mochi: 6k+1 at its 6 fps test rate: 2 s = 12 frames becomes 13.
    ("tiny-mochi", {"size": "48x32", "seconds": "2"}, (13, 32, 48, 6)),
    # Embedded: trained lengths 9 and 17 only; 1.5 s = 12 frames rounds up to the next one, 17.
    ("tiny-embedded", {"size": "96x64", "seconds": "1.5"}, (17, 64, 96, 8)),
    # Wan 2.2's two experts in one WanPipeline: 4k+1, so 1 s at 8 fps is 9 frames.
    ("tiny-wan22", {"size": "48x32", "seconds": "1"}, (9, 32, 48, 8)),
]


@pytest.fixture(scope="module")
def family_worker(env, redis, tmp_path_factory):
    from tests.support import start_worker

    worker = start_worker(env, redis, tmp_path_factory.mktemp("families"), FAMILY_MODELS)
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def sdk(api_url) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api_url}/v1", api_key="test-key", max_retries=0)


@pytest.mark.parametrize(("model", "request_fields", "expected"), CASES, ids=[c[0] for c in CASES])
def test_family_renders_the_frames_and_size_its_rules_give(sdk, family_worker, model, request_fields, expected):
    frames, height, width, fps = expected
    video = sdk.videos.create_and_poll(
        prompt="a red ball moving left", model=model, poll_interval_ms=100, **request_fields
    )
    assert video.status == "completed", video.error
    extra = video.model_extra
    assert (extra["num_frames"], extra["fps"]) == (frames, fps)
    assert video.size == f"{width}x{height}"
    assert extra["timings"]["load"] == 0  # everything fits: no swap
    assert extra["timings"]["denoise"] > 0 and extra["timings"]["step_median"] > 0

    decoded = decode_mp4(sdk.videos.download_content(video.id).read())
    assert decoded.shape == (frames, height, width, 3)


def test_models_list_shows_each_family_live_with_its_rules(api_url, family_worker):
    listing = httpx.get(f"{api_url}/v1/models").json()["data"]
    by_id = {m["id"]: m for m in listing}
    expected_rules = {
        "tiny-ltx": ("ltx", "LTXPipeline", "8k+1", 32),
        "tiny-cogvideox": ("cogvideox", "CogVideoXPipeline", "8k+1", 16),
        "tiny-hunyuan": ("hunyuan", "HunyuanVideoPipeline", "4k+1", 16),
        "tiny-mochi": ("mochi", "MochiPipeline", "6k+1", 16),
        "tiny-embedded": ("embedded", "WanPipeline", "4k+1", 16),
    }
    for model, (family, pipeline_class, rule, multiple) in expected_rules.items():
        entry = by_id[model]
        assert entry["live"] is True
        assert (entry["family"], entry["pipeline_class"], entry["frame_rule"], entry["spatial_multiple"]) == (
            family,
            pipeline_class,
            rule,
            multiple,
        )
    assert by_id["tiny-cogvideox"]["allowed_frame_counts"] == [9]
    assert by_id["tiny-hunyuan"]["supports_negative_prompt"] is False
    # Catalog models that no worker serves are listed, and say so.
    assert by_id["tiny-bad-offload"]["live"] is False


# One invalid request per family, and the rule its message must name.
INVALID = [
    ("tiny-ltx", {"size": "48x32"}, "size", "multiples of 32"),
    ("tiny-ltx", {"seconds": "61"}, "seconds", "cap of 60 seconds"),
    ("tiny-cogvideox", {"size": "32x32"}, "size", "allowed sizes: 48x32"),
    ("tiny-cogvideox", {"size": "1280x721"}, "size", "allowed sizes: 48x32"),
    ("tiny-hunyuan", {"size": "40x32"}, "size", "multiples of 16"),
    ("tiny-hunyuan", {"negative_prompt": "blurry"}, "negative_prompt", "does not use negative prompts"),
    ("tiny-mochi", {"size": "56x32"}, "size", "multiples of 16"),
    ("tiny-mochi", {"seconds": "0"}, "seconds", "at most 60"),
    ("tiny-embedded", {"size": "96x96"}, "size", "allowed sizes: 64x64, 96x64, 64x96"),
    ("tiny-embedded", {"seconds": "61"}, "seconds", "T2V_MAX_SECONDS"),
]


@pytest.mark.parametrize(("model", "fields", "param", "rule"), INVALID, ids=[f"{m}-{p}" for m, _, p, _ in INVALID])
def test_invalid_request_is_rejected_naming_the_family_rule(api_url, model, fields, param, rule):
    response = httpx.post(f"{api_url}/v1/videos", json={"prompt": "a red ball", "model": model, **fields})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert rule in error["message"], error["message"]


# Image and video prompts on every family (workers/conditioning): LTX through its condition
# pipeline, CogVideoX's remix through its video-to-video pipeline, the rest the generic latent path.
CONDITIONED = [("tiny-ltx", "64x32"), ("tiny-cogvideox", "48x32"), ("tiny-hunyuan", "48x32"), ("tiny-mochi", "48x32")]


@pytest.mark.parametrize(("model", "size"), CONDITIONED, ids=[c[0] for c in CONDITIONED])
def test_family_takes_an_image_and_remixes(sdk, family_worker, model, size):
    import io

    import numpy as np
    from PIL import Image

    width, height = (int(side) for side in size.split("x"))
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (220, 40, 40)
    png = io.BytesIO()
    Image.fromarray(image).save(png, format="PNG")
    fields = {"model": model, "size": size, "seconds": "1", "extra_body": {"seed": 5}}
    plain = sdk.videos.create_and_poll(prompt="a red ball", poll_interval_ms=100, **fields)
    pinned = sdk.videos.create_and_poll(
        prompt="a red ball", input_reference=("red.png", png.getvalue()), poll_interval_ms=100, **fields
    )
    assert plain.status == pinned.status == "completed", pinned.error
    first = [decode_mp4(sdk.videos.download_content(v.id).read())[0].astype(int) for v in (plain, pinned)]
    assert np.abs(first[0] - first[1]).mean() > 1.0  # the image changed the first frame
    remix = sdk.videos.remix(plain.id, prompt="a blue ball", extra_body={"strength": 0.5})
    remix = sdk.videos.poll(remix.id, poll_interval_ms=100)
    assert remix.status == "completed", remix.error
    assert remix.remixed_from_video_id == plain.id and remix.size == plain.size
