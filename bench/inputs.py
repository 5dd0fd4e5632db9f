"""What image and video inputs add to a video's latency, next to the render itself.

Measured side by side in one run:
  API   `POST /v1/videos` without an input, with a PNG upload (`input_reference`) and with a
        JSON `data:` URL, against a real API process with the embedded Valkey (nothing renders:
        the model has no worker, so only the request path is timed); and `POST /v1/videos/edits`
        with an MP4 upload (probed and fully decoded by ffmpeg).
  worker `sample()` of the embedded model with no condition, with the image pinned as frame 0
        (decode + VAE encode + per-step re-imposition) and as an SDEdit remix of a clip; the
        decode and encode-to-latents parts are timed alone too.

    .venv/bin/python bench/inputs.py [--repeats 5] [--image-side 512]
"""

import argparse
import base64
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from models.embedded import world  # noqa: E402
from tests.support import base_env, start_api  # noqa: E402


CATALOG = ROOT / "tests" / "fixtures" / "catalog.toml"


def median_ms(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def png_of(side: int) -> bytes:
    rng = np.random.default_rng(0)
    # A photo-like image: smooth gradients plus noise, so PNG does not compress it away.
    ys, xs = np.mgrid[0:side, 0:side]
    image = np.stack([xs * 255 // side, ys * 255 // side, (xs + ys) * 127 // side], -1)
    image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def clip_mp4(path: Path) -> bytes:
    from workers.encode import write_mp4

    frames = world.render(world.sample_spec(3, width=256, height=256, num_frames=33)).astype(np.float32) / 255
    write_mp4(frames, 8, path)
    return path.read_bytes()


def api_figures(png: bytes, mp4: bytes, repeats: int, work: Path) -> None:
    server = EmbeddedRedis(work / "redis").start()
    data = work / "data"
    data.mkdir()
    api = None
    try:
        api, base = start_api(base_env(server.url, data, CATALOG), free_port(), work)
        form = {"prompt": "a red ball", "model": "embedded", "seconds": "1"}
        data_url = "data:image/png;base64," + base64.b64encode(png).decode()
        with httpx.Client(base_url=f"{base}/v1", timeout=60) as client:

            def post(**kwargs):
                response = client.post("/videos", **kwargs)
                assert response.status_code == 200, response.text

            def edit():
                files = {"video": ("clip.mp4", mp4, "video/mp4")}
                response = client.post("/videos/edits", data={"prompt": "at night", "model": "embedded"}, files=files)
                assert response.status_code == 200, response.text

            post(data=form)  # warm up
            plain = median_ms(lambda: post(data=form), repeats)
            upload = median_ms(lambda: post(data=form, files={"input_reference": ("i.png", png, "image/png")}), repeats)
            as_url = median_ms(lambda: post(json={**form, "input_reference": {"image_url": data_url}}), repeats)
            edits = median_ms(edit, repeats)
        print(f"API  POST /v1/videos, no input                 {plain:8.1f} ms")
        print(f"API  + input_reference PNG upload ({len(png) >> 10} KiB)     {upload:8.1f} ms  (+{upload - plain:.1f})")
        print(f"API  + input_reference data: URL (JSON)         {as_url:8.1f} ms  (+{as_url - plain:.1f})")
        print(f"API  POST /v1/videos/edits, MP4 upload ({len(mp4) >> 10} KiB)  {edits:8.1f} ms  (+{edits - plain:.1f})")
    finally:
        if api is not None:
            api.stop()
        server.stop()


def worker_figures(png: bytes, mp4: bytes, repeats: int, work: Path) -> None:
    import torch

    from models.catalog import CatalogEntry
    from models.loader import load_model
    from workers.conditioning import Conditions, Pin, SourceVideo
    from workers.conditioning.latent_space import LatentSpace
    from workers.conditioning.media import image_frames, to_length, video_frames
    from workers.runtime import sample

    model = load_model(CatalogEntry(name="embedded", family="embedded", path="builtin:embedded"), work)
    params = {
        "prompt": "a red circle moving right",
        "negative_prompt": None,
        "num_inference_steps": 20,
        "guidance_scale": 5.0,
        "seed": 0,
        "fps": 8,
        "height": 64,
        "width": 64,
        "num_frames": 9,
    }
    stored = {"input_image": png, "input_video": mp4}
    space = LatentSpace(model.pipeline)
    print(f"Embedded model on {model.device}, 64x64 x 9 frames, 20 steps", flush=True)
    frames = to_length(video_frames(mp4, 64, 64), 9)
    with torch.inference_mode():
        parts = [
            ("decode PNG to a frame", lambda: image_frames(png, 64, 64)),
            ("decode MP4 to 9 frames", lambda: to_length(video_frames(mp4, 64, 64), 9)),
            ("VAE encode, image to latents", lambda: space.encode(image_frames(png, 64, 64))),
            ("VAE encode, 9 frames to latents", lambda: space.encode(frames)),
        ]
        for what, call in parts:
            print(f"worker {what:<42} {median_ms(call, repeats):8.1f} ms", flush=True)

    def run(conditions=None):
        sample(model, params, lambda done, total: None, conditions=conditions, read_input=stored.__getitem__)

    run()  # warm up
    plain = median_ms(run, repeats)
    print(f"worker {'render, no condition':<42} {plain:8.1f} ms", flush=True)
    for what, conditions in (
        ("render, image pinned as frame 0", Conditions(pins=[Pin(source="input_image")])),
        ("render, remix at strength 0.6 (12 steps)", Conditions(video=SourceVideo(source="input_video", strength=0.6))),
    ):
        took = median_ms(lambda conditions=conditions: run(conditions), repeats)
        print(f"worker {what:<42} {took:8.1f} ms  ({took / plain:.2f}x)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--image-side", type=int, default=512)
    args = parser.parse_args()
    png = png_of(args.image_side)
    with tempfile.TemporaryDirectory(prefix="t2v-bench-inputs-") as scratch:
        work = Path(scratch)
        mp4 = clip_mp4(work / "clip.mp4")
        api_figures(png, mp4, args.repeats, work / "api")
        worker_figures(png, mp4, args.repeats, work)


if __name__ == "__main__":
    main()
