"""Sora's length and size, then an extension, with the openai package against the stack `make
run` starts (`t2v up` on the shipped catalog: the embedded default model), every response valid
against OpenAI's published schemas."""

import signal
import subprocess
import sys
import warnings

import httpx
import pytest
from openai import OpenAI
from openai.types import Video

from app.embedded_redis import free_port
from models.catalog import SHIPPED_CATALOG
from tests.contracts import validate
from tests.media import decode_mp4
from tests.support import ROOT, base_env, wait_until


@pytest.fixture
def stack(tmp_path):
    port = free_port()
    env = base_env("", tmp_path / "data", SHIPPED_CATALOG, HOME=str(tmp_path / "home"))
    # What `make run` has: no Redis given, the shipped catalog and its default model.
    for name in ("T2V_REDIS_URL", "T2V_DEFAULT_MODEL"):
        env.pop(name)
    up = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "up", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []

    def ready():
        line = up.stdout.readline()
        if not line and up.poll() is not None:
            raise AssertionError(f"t2v up exited:\n{''.join(lines)}")
        lines.append(line)
        return line.startswith("ready")

    try:
        wait_until(ready, timeout_s=180, what="`t2v up` to be ready")
        yield f"http://127.0.0.1:{port}"
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()


@pytest.mark.slow
def test_sora_create_and_extend_through_the_default_stack(stack):
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    client = OpenAI(base_url=f"{stack}/v1", api_key="local", max_retries=0)
    # Few steps keep the 12 s (eight chunks) affordable on a CPU; the path is the same.
    video = client.videos.create_and_poll(
        prompt="a yellow circle moving left",
        seconds="12",
        size="1280x720",
        extra_body={"num_inference_steps": 2, "seed": 7},
        poll_interval_ms=100,
    )
    assert video.status == "completed", video.error
    assert (video.model, video.seconds, video.size) == ("embedded", "12", "1280x720")
    validate("VideoResource", httpx.get(f"{stack}/v1/videos/{video.id}").json())
    frames = decode_mp4(client.videos.download_content(video.id).read())
    assert frames.shape == (97, 720, 1280, 3)

    extension = client.post(
        "/videos/extensions",
        body={"video": {"id": video.id}, "prompt": "a yellow circle moving left", "seconds": "4"},
        cast_to=Video,
    )
    validate("VideoResource", extension.model_dump(mode="json"))
    extended = client.videos.poll(extension.id, poll_interval_ms=100)
    assert extended.status == "completed", extended.error
    assert (extended.seconds, extended.size) == ("16", "1280x720")
    validate("VideoResource", httpx.get(f"{stack}/v1/videos/{extended.id}").json())
    assert len(decode_mp4(client.videos.download_content(extended.id).read())) == 97 + 4 * 8
