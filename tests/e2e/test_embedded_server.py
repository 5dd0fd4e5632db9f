"""The embedded model through the whole server: API -> offline expander -> queue -> worker -> MP4.

The analyzer reads colour and motion back out of the MP4, so a regression anywhere in the sampler
path (scheduler, guidance, VAE decode, frame order, colour conversion, encoding) fails here.
"""

import pytest

from models.embedded.analyzer import analyze_video
from tests.media import decode_mp4


CASES = [
    ("a red square moving right", "64x64", "2", "red", "right"),
    ("blue circle going up", "96x64", "1", "blue", "up"),
    ("a yellow ball heading left", "64x64", "2", "yellow", "left"),
]


@pytest.fixture(scope="module")
def embedded_worker(env, redis, session_dir):
    from tests.support import start_worker

    worker = start_worker(env, redis, session_dir, ["embedded"])
    yield worker
    worker.stop()


@pytest.mark.parametrize(("prompt", "size", "seconds", "colour", "direction"), CASES)
def test_short_prompt_becomes_the_video_it_asks_for(
    client, embedded_worker, tmp_path, prompt, size, seconds, colour, direction
):
    video = client.videos.create_and_poll(
        prompt=prompt, model="embedded", size=size, seconds=seconds, extra_body={"seed": 3}, poll_interval_ms=100
    )
    assert video.status == "completed", video.error
    extra = video.model_extra
    assert extra["prompt_expansion"] == "offline"
    assert extra["revised_prompt"] != prompt and colour in extra["revised_prompt"]
    path = tmp_path / "video.mp4"
    client.videos.download_content(video.id).write_to_file(path)
    seen = analyze_video(path)
    assert seen.colour == colour, seen
    assert len(decode_mp4(path.read_bytes())) == extra["num_frames"]


@pytest.mark.xfail(reason="the shipped embedded model does not yet follow motion direction (MODEL_CARD.md)")
@pytest.mark.parametrize(("prompt", "size", "seconds", "colour", "direction"), CASES[:1])
def test_short_prompt_moves_the_way_it_asks(
    client, embedded_worker, tmp_path, prompt, size, seconds, colour, direction
):
    video = client.videos.create_and_poll(
        prompt=prompt, model="embedded", size=size, seconds=seconds, extra_body={"seed": 3}, poll_interval_ms=100
    )
    path = tmp_path / "video.mp4"
    client.videos.download_content(video.id).write_to_file(path)
    assert analyze_video(path).direction == direction
