"""The official openai package is the contract test of the API."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.media import decode_mp4, probe_codec


def test_create_and_poll_then_download_every_variant(client, tmp_path):
    video = client.videos.create_and_poll(
        prompt="a red ball moving left", seconds="2", size="48x32", poll_interval_ms=100
    )
    assert video.status == "completed", video.error
    assert video.id.startswith("video_") and len(video.id) == len("video_") + 32
    assert video.progress == 100
    assert video.seconds == "2" and video.size == "48x32"
    assert video.completed_at >= video.created_at
    extra = video.model_extra
    # 2 s at the model's 8 fps is 16 frames; Wan takes 4k+1, so the server makes 17.
    assert extra["num_frames"] == 17 and extra["fps"] == 8
    assert isinstance(extra["seed"], int)
    assert set(extra["timings"]) >= {"queued", "load", "denoise", "decode", "encode"}

    mp4 = client.videos.download_content(video.id).read()
    frames = decode_mp4(mp4)
    assert frames.shape == (17, 32, 48, 3)
    saved = tmp_path / "video.mp4"
    saved.write_bytes(mp4)
    stream = probe_codec(saved)
    assert "h264" in stream and "yuv420p" in stream and "8 fps" in stream

    thumbnail = Image.open(io.BytesIO(client.videos.download_content(video.id, variant="thumbnail").read()))
    assert thumbnail.format == "WEBP" and thumbnail.size == (48, 32)
    sheet = Image.open(io.BytesIO(client.videos.download_content(video.id, variant="spritesheet").read()))
    assert sheet.format == "JPEG" and sheet.size[0] == 4 * 48


def test_same_seed_reproduces_the_same_video(client):
    first = client.videos.create_and_poll(prompt="a blue cat", extra_body={"seed": 1234}, poll_interval_ms=100)
    second = client.videos.create_and_poll(prompt="a blue cat", extra_body={"seed": 1234}, poll_interval_ms=100)
    a = decode_mp4(client.videos.download_content(first.id).read()).astype(int)
    b = decode_mp4(client.videos.download_content(second.id).read()).astype(int)
    assert first.model_extra["seed"] == second.model_extra["seed"] == 1234
    assert np.abs(a - b).max() <= 1


def test_retrieve_list_paginates_and_delete(client):
    ids = [client.videos.create(prompt=f"a green dog number {i}").id for i in range(5)]
    for video_id in ids:
        assert client.videos.retrieve(video_id).id == video_id

    page = client.videos.list(limit=2, order="asc")
    assert len(page.data) == 2 and page.has_more
    listed = [v.id for v in client.videos.list(limit=2, order="desc")]  # auto-paginates
    assert len(listed) == len(set(listed))
    newest_first = [i for i in listed if i in ids]
    assert newest_first == list(reversed(ids))

    deleted = client.videos.delete(ids[0])
    assert deleted.deleted and deleted.id == ids[0]
    import openai

    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(ids[0])


def test_sora_model_names_are_aliases_of_the_default_model(client):
    for name in ("sora-2", "sora-2-pro"):
        video = client.videos.create(prompt="an alias", model=name)
        assert video.model == "tiny-wan"
