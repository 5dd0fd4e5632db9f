"""Image and video prompts through the official `openai` package, end to end: input_reference
(file, https URL, data: URL), remix, edits and characters, against a real API process and a
real worker on a tiny seeded Wan pipeline; every JSON answer checked against OpenAI's published
schemas (tests/contracts)."""

import base64
import io
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import openai
import pytest
import torch
from openai import OpenAI
from PIL import Image

from app.embedded_redis import free_port
from app.storage.local import LocalStorage
from models.catalog import CatalogEntry
from models.embedded import world
from models.loader import load_model
from tests.contracts import validate
from tests.media import decode_mp4
from tests.support import start_api, start_worker
from workers.conditioning.latent_space import LatentSpace
from workers.encode import write_mp4
from workers.longvideo.checkpoint import Checkpoints


MODEL = "tiny-wan-inputs"
# The API's deadline for fetching an image URL, and how long the slow test host takes.
FETCH_TIMEOUT_S = 3
SLOW_HOST_S = 10
POLL = {"poll_interval_ms": 100}


def png_bytes(frame: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(frame).save(out, format="PNG")
    return out.getvalue()


def shape_frame(width: int, height: int, seed: int = 3) -> np.ndarray:
    return world.render(world.sample_spec(seed, width=width, height=height, num_frames=1))[0]


def mp4_bytes(frames: np.ndarray, tmp_path, fps: int = 8) -> bytes:
    path = tmp_path / f"clip-{time.monotonic_ns()}.mp4"
    write_mp4(frames.astype(np.float32) / 255.0, fps, path)
    return path.read_bytes()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-9))


class ImageHost(BaseHTTPRequestHandler):
    """A customer's image server, with the failure modes image URLs have."""

    image = b""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/shape.png":
            self._answer(200, "image/png", self.image)
        elif self.path == "/shape32.png":
            self._answer(200, "image/png", png_bytes(shape_frame(32, 32)))
        elif self.path == "/page.html":
            self._answer(200, "text/html", b"<html>not an image</html>")
        elif self.path == "/slow.png":
            time.sleep(SLOW_HOST_S)
            self._answer(200, "image/png", self.image)
        elif self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
        else:
            self._answer(404, "text/plain", b"no")

    def _answer(self, status: int, content_type: str, body: bytes):
        try:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the API gave up waiting (the slow host): that is the point


@pytest.fixture(scope="module")
def image_host():
    ImageHost.image = png_bytes(shape_frame(64, 48))
    server = ThreadingHTTPServer(("127.0.0.1", 0), ImageHost)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def sdk(env, redis, tmp_path_factory):
    """An API that may fetch images from 127.0.0.1 (the test's image host) with a 3 s deadline
    and a 200 kB image cap, and a worker for the inputs model."""
    log_dir = tmp_path_factory.mktemp("inputs")
    api_env = {
        **env,
        "T2V_INPUT_URL_ALLOWED_HOSTS": "127.0.0.1",
        "T2V_INPUT_FETCH_TIMEOUT_S": str(FETCH_TIMEOUT_S),
        "T2V_INPUT_MAX_IMAGE_BYTES": "200000",
    }
    api, base = start_api(api_env, free_port(), log_dir)
    worker = start_worker(env, redis, log_dir, [MODEL, "tiny-wan-vace", "tiny-wan-i2v"])
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    yield OpenAI(base_url=f"{base}/v1", api_key="test-key", max_retries=0)
    worker.stop()
    api.stop()


@pytest.fixture(scope="module")
def tiny_wan(data_dir):
    return load_model(CatalogEntry(name="tiny-wan", family="wan", path="builtin:tiny-wan"), data_dir)


def encoded(model, frame: np.ndarray) -> torch.Tensor:
    """The image in the tiny model's denoising space: what a pinned first frame must hold. (Its
    random VAE decodes every image to nearly the same pixels, so pixels would prove nothing.)"""
    with torch.inference_mode():
        return LatentSpace(model.pipeline).encode(frame[None].astype(np.float32) / 255.0)[:, :, 0]


def completed(sdk: OpenAI, video) -> dict:
    video = sdk.videos.poll(video.id, **POLL)
    body = video.to_dict()
    validate("VideoResource", body)
    assert video.status == "completed", video.error
    return body


def refused(call, status: int) -> dict:
    with pytest.raises(openai.APIStatusError) as caught:
        call()
    assert caught.value.status_code == status, caught.value.response.text
    body = caught.value.response.json()
    validate("ErrorResponse", body)
    return body["error"]


def test_image_to_video_from_a_file_makes_the_image_the_first_frame(sdk, tiny_wan, data_dir):
    image = shape_frame(64, 48)
    video = sdk.videos.create(
        model=MODEL, prompt="a red ball", size="32x32", seconds="1", input_reference=("shape.png", png_bytes(image))
    )
    validate("VideoResource", video.to_dict())
    assert "resized and centre-cropped to 32x32" in video.model_extra["warning"]
    body = completed(sdk, video)
    first = decode_mp4(sdk.videos.download_content(body["id"]).read())[0]
    assert first.shape == (32, 32, 3)
    fitted = np.asarray(Image.fromarray(image).resize((43, 32), Image.Resampling.LANCZOS))[:, 5:37]
    # The video keeps its final latents (an extension continues them): the first is the image's.
    kept = Checkpoints(LocalStorage(data_dir / "videos"), body["id"]).tail()
    torch.testing.assert_close(kept[:, :, 0], encoded(tiny_wan, fitted), atol=0.05, rtol=0)
    # The input is stored with the video, and deleted with it.
    stored = data_dir / "videos" / body["id"] / "0" / "input-image.png"
    assert Image.open(stored).size == (64, 48)
    sdk.videos.delete(body["id"])
    assert not stored.exists()


def test_an_image_may_start_a_video_longer_than_one_clip_and_it_may_be_remixed(sdk):
    """Made in chunks (the pixels are checked on the embedded model below: this tiny VAE's random
    weights decode every image to nearly the same frame)."""
    image = shape_frame(32, 32)
    video = sdk.videos.create(
        model=MODEL, prompt="a red ball", size="32x32", seconds="8", input_reference=("a.png", png_bytes(image))
    )
    body = completed(sdk, video)
    assert body["status"] == "completed" and body["chunks"]["total"] >= 2, body
    frames = decode_mp4(sdk.videos.download_content(body["id"]).read())
    assert len(frames) == 8 * 8 + 1
    # Its remix is made in chunks too, each re-drawing the source frames it covers.
    remix = completed(sdk, sdk.videos.remix(body["id"], prompt="a blue ball"))
    assert (remix["status"], remix["seconds"], remix["chunks"]["total"]) == ("completed", "8", body["chunks"]["total"])
    assert len(decode_mp4(sdk.videos.download_content(remix["id"]).read())) == 8 * 8 + 1


def test_an_image_to_video_checkpoint_animates_images_and_refuses_the_rest(sdk):
    image = shape_frame(32, 32)
    videos = []
    for picture in (image, 255 - image):  # same seed, two images
        made = sdk.videos.create(
            model="tiny-wan-i2v",
            prompt="a red ball",
            input_reference=("a.png", png_bytes(picture)),
            extra_body={"seed": 5},
        )
        videos.append(completed(sdk, made))
    video = videos[0]
    assert [v["status"] for v in videos] == ["completed", "completed"], videos
    frames = [decode_mp4(sdk.videos.download_content(v["id"]).read()).astype(np.float64) for v in videos]
    assert len(frames[0]) == 4 * 8 + 1
    # The pipeline's own image path (WanImageToVideoPipeline) conditions every step on the image:
    # the same seed and prompt with another image is another video.
    assert np.abs(frames[0] - frames[1]).mean() > 1.0
    create = sdk.videos.create
    error = refused(lambda: create(model="tiny-wan-i2v", prompt="text alone"), 400)
    assert (error["param"], error["code"]) == ("input_reference", "unsupported_capability")
    assert "image-to-video checkpoint" in error["message"]
    small = ("a.png", png_bytes(image))
    error = refused(lambda: create(model="tiny-wan-i2v", prompt="x", seconds="8", input_reference=small), 400)
    assert error["param"] == "seconds" and "4 s" in error["message"]
    error = refused(lambda: sdk.videos.remix(video["id"], prompt="a blue ball"), 400)
    assert error["code"] == "unsupported_capability"
    body = {"video": {"id": video["id"]}, "prompt": "more", "seconds": "4"}
    error = refused(lambda: sdk.post("/videos/extensions", body=body, cast_to=openai.types.Video), 400)
    assert error["code"] == "unsupported_capability"
    models = {m["id"]: m for m in sdk.get("/models", cast_to=object)["data"]}
    assert models["tiny-wan-i2v"]["capabilities"] == ["image"]


def test_image_urls_https_and_data_are_fetched_and_checked(sdk, image_host):
    data_url = "data:image/png;base64," + base64.b64encode(png_bytes(shape_frame(32, 32))).decode()
    url = f"{image_host}/shape32.png"
    # Multipart with the bracketed field (`input_reference[image_url]`), and a JSON body.
    multipart = sdk.videos.create(
        model=MODEL, prompt="a blue square", seconds="1", extra_body={"input_reference": {"image_url": data_url}}
    )
    body = {"model": MODEL, "prompt": "a blue square", "seconds": "1", "input_reference": {"image_url": url}}
    as_json = sdk.post("/videos", body=body, cast_to=openai.types.Video)
    for video in (multipart, as_json):
        assert completed(sdk, video)["status"] == "completed" and video.model_extra["warning"] is None


def test_bad_images_are_clear_errors(sdk, image_host):
    create = sdk.videos.create
    error = refused(lambda: create(model=MODEL, prompt="x", extra_body={"input_reference": {"file_id": "file-1"}}), 400)
    assert error["param"] == "input_reference.file_id" and "image_url" in error["message"]
    error = refused(lambda: create(model="tiny-wan-text", prompt="x", input_reference=("a.png", b"x")), 400)
    assert error["code"] == "unsupported_capability" and MODEL in error["message"]
    error = refused(lambda: create(model=MODEL, prompt="x", input_reference=("a.png", b"not an image")), 400)
    assert error["param"] == "input_reference" and error["code"] == "invalid_image"
    noise = np.random.default_rng(0).integers(0, 255, (300, 300, 3), dtype=np.uint8)
    error = refused(lambda: create(model=MODEL, prompt="x", input_reference=("big.png", png_bytes(noise))), 413)
    assert error["param"] == "input_reference"
    for path, code in (("/page.html", "invalid_image"), ("/slow.png", "image_url_timeout")):
        started = time.monotonic()
        url = {"image_url": f"{image_host}{path}"}
        error = refused(lambda url=url: create(model=MODEL, prompt="x", extra_body={"input_reference": url}), 400)
        assert error["code"] == code and error["param"] == "input_reference.image_url"
        # Refused once the deadline passes, long before the slow host would have answered.
        assert time.monotonic() - started < SLOW_HOST_S - 2
    for url in ("https://10.1.2.3/a.png", "https://[::1]/a.png", f"{image_host}/to-metadata"):
        body = {"model": MODEL, "prompt": "x", "input_reference": {"image_url": url}}
        error = refused(lambda body=body: sdk.post("/videos", body=body, cast_to=openai.types.Video), 400)
        assert error["code"] == "image_url_forbidden", error


def test_remix_keeps_the_source_and_sets_remixed_from(sdk):
    source = completed(sdk, sdk.videos.create(model=MODEL, prompt="a red ball moving left", seconds="1"))
    remix = sdk.videos.remix(source["id"], prompt="a blue ball moving left", extra_body={"strength": 0.5})
    body = completed(sdk, remix)
    assert body["remixed_from_video_id"] == source["id"]
    assert (body["model"], body["size"], body["seconds"]) == (source["model"], source["size"], source["seconds"])
    assert body["seed"] == source["seed"]
    error = refused(lambda: sdk.videos.remix(source["id"], prompt="x", extra_body={"strength": 2}), 400)
    assert error["param"] == "strength"
    error = refused(lambda: sdk.videos.remix("video_" + "0" * 32, prompt="x"), 404)
    assert error["param"] == "video_id"
    # A video nobody serves stays queued: it cannot be remixed yet.
    queued = sdk.videos.create(model="tiny-wan-text", prompt="a queued video")
    error = refused(lambda: sdk.videos.remix(queued.id, prompt="x"), 409)
    assert "queued" in error["message"] and error["code"] == "video_not_completed"


def test_edits_take_an_upload_or_an_id(sdk, tmp_path):
    clip = world.render(world.sample_spec(5, width=96, height=48, num_frames=12))
    edited = completed(
        sdk,
        sdk.videos.edit(
            video=("clip.mp4", mp4_bytes(clip, tmp_path)), prompt="a green ball", extra_body={"model": MODEL}
        ),
    )
    # Fitted to the model's grid at its aspect (2:1 -> 48x16... rounded to multiples of 16).
    width, height = (int(s) for s in edited["size"].split("x"))
    assert width > height and width % 16 == 0 and height % 16 == 0
    by_id = sdk.post(
        "/videos/edits", body={"video": {"id": edited["id"]}, "prompt": "a yellow ball"}, cast_to=openai.types.Video
    )
    assert completed(sdk, by_id)["size"] == edited["size"]
    error = refused(lambda: sdk.videos.edit(video=("clip.mp4", b"garbage"), prompt="x"), 400)
    assert error["param"] == "video"
    gif = io.BytesIO()
    frames = [Image.fromarray(f) for f in clip]
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    error = refused(lambda: sdk.videos.edit(video=("clip.gif", gif.getvalue()), prompt="x"), 400)
    assert error["code"] == "unsupported_codec" and error["param"] == "video"


def test_characters_are_described_kept_per_name_and_inserted_into_prompts(sdk, tmp_path, data_dir):
    clip = world.render(world.sample_spec(11, width=64, height=64, num_frames=9, colour="red", shape="circle"))
    name = f"Mira {time.monotonic_ns()}"
    character = sdk.videos.create_character(
        name=name, video=("mira.mp4", mp4_bytes(clip, tmp_path)), extra_body={"model": "embedded"}
    )
    validate("VideoCharacterResource", character.to_dict())
    assert character.id.startswith("char_") and character.name == name
    fetched = sdk.videos.get_character(character.id)
    validate("VideoCharacterResource", fetched.to_dict())
    assert fetched.model_extra["description"] == "a red circle"
    error = refused(
        lambda: sdk.videos.create_character(name=name.upper(), video=("m.mp4", mp4_bytes(clip, tmp_path))), 409
    )
    assert error["param"] == "name"
    refused(lambda: sdk.videos.get_character("char_" + "0" * 32), 404)
    video = sdk.videos.create(model=MODEL, prompt=f"{name} moving left", seconds="1")
    assert video.model_extra["revised_prompt"] == "a red circle moving left"
    assert completed(sdk, video)["status"] == "completed"
    # A model with reference conditioning (Wan VACE) also gets the character's frame.
    referenced = completed(sdk, sdk.videos.create(model="tiny-wan-vace", prompt=f"{name} moving up", seconds="1"))
    frame = Image.open(data_dir / "videos" / referenced["id"] / "0" / "reference-image.png")
    assert frame.size == (64, 64)


def test_models_list_their_capabilities(sdk):
    models = {m["id"]: m for m in sdk.get("/models", cast_to=object)["data"]}
    assert models[MODEL]["capabilities"] == ["text", "image", "video"]
    assert models["tiny-wan-text"]["capabilities"] == ["text"]
    assert models["tiny-wan-vace"]["capabilities"] == ["text", "image", "video", "reference"]


@pytest.fixture(scope="module")
def embedded_worker(env, redis, tmp_path_factory):
    worker = start_worker(env, redis, tmp_path_factory.mktemp("inputs-embedded"), ["embedded"])
    yield worker
    worker.stop()


@pytest.mark.slow
def test_embedded_model_animates_the_image_and_remix_strength_is_measured(sdk, embedded_worker):
    """The embedded model's VAE is trained, so its first frame is the input image itself; a remix
    at strength 0.3 stays closer to its source than one at 0.9 (same seed, same new prompt)."""
    image = shape_frame(64, 64, seed=21)
    settings = {"model": "embedded", "size": "64x64", "seconds": "1", "extra_body": {"num_inference_steps": 10}}
    video = completed(sdk, sdk.videos.create(prompt="a shape", input_reference=("i.png", png_bytes(image)), **settings))
    first = decode_mp4(sdk.videos.download_content(video["id"]).read())[0]
    print(f"embedded image-to-video: first frame PSNR {psnr(first, image):.1f} dB after the MP4 round trip")
    assert psnr(first, image) >= 25.0

    source = completed(
        sdk, sdk.videos.create(prompt="a red circle moving right", **{**settings, "extra_body": {"seed": 1}})
    )
    source_frames = decode_mp4(sdk.videos.download_content(source["id"]).read()).astype(np.float64)
    distance = {}
    for strength in (0.3, 0.9):
        remix = sdk.videos.remix(
            source["id"], prompt="a blue square moving up", extra_body={"strength": strength, "seed": 2}
        )
        frames = decode_mp4(sdk.videos.download_content(completed(sdk, remix)["id"]).read()).astype(np.float64)
        distance[strength] = float(np.abs(frames - source_frames).mean())
    print(f"remix mean absolute difference from the source (0-255): {distance}")
    assert distance[0.3] < distance[0.9]


@pytest.mark.slow
def test_embedded_model_starts_a_long_video_on_the_image(sdk, embedded_worker):
    """4 s is more than the embedded model's 2-s clip: the image is the first chunk's first frame,
    the next chunk continues that chunk, and the join does not jump."""
    image = shape_frame(64, 64, seed=21)
    video = completed(
        sdk,
        sdk.videos.create(
            model="embedded",
            prompt="a shape",
            size="64x64",
            seconds="4",
            input_reference=("i.png", png_bytes(image)),
            extra_body={"num_inference_steps": 10},
        ),
    )
    assert video["status"] == "completed" and video["chunks"]["total"] >= 2, video
    frames = decode_mp4(sdk.videos.download_content(video["id"]).read())
    assert len(frames) == 4 * 8 + 1
    print(f"embedded long image-to-video: first frame PSNR {psnr(frames[0], image):.1f} dB")
    # 25 dB measured; without the pin the first frame is whatever the prompt draws (13.7 dB).
    assert psnr(frames[0], image) >= 22.0
    # The video goes on from the image: its last frame is no copy of it.
    assert psnr(frames[-1], image) < psnr(frames[0], image)
    # A remix at a low strength re-draws every chunk close to the source, the later ones too.
    remix = completed(sdk, sdk.videos.remix(video["id"], prompt="a shape", extra_body={"strength": 0.3, "seed": 2}))
    redrawn = decode_mp4(sdk.videos.download_content(remix["id"]).read()).astype(np.float64)
    assert len(redrawn) == len(frames)
    later = slice(17, None)  # the second clip's frames
    distance = float(np.abs(redrawn[later] - frames[later].astype(np.float64)).mean())
    print(f"embedded long remix at strength 0.3: mean absolute difference {distance:.1f} in the later chunk")
    assert distance < 15.0
