"""Videos longer than one render: chunked continuation through the whole server, resumed after a
worker is killed mid-chunk, on the embedded model and on tiny pipelines of each family. Sora's
12 s at 1280x720 and an extension through the default stack: test_long_video_stack.py."""

import json

import httpx
import numpy as np
import pytest

from tests.contracts import validate
from tests.media import decode_mp4
from tests.support import wait_until


def _record(redis, video_id: str) -> dict:
    return {k.decode(): json.loads(v) for k, v in redis.hgetall(f"t2v:video:{video_id}").items()}


def _create(api_url: str, **fields) -> dict:
    response = httpx.post(f"{api_url}/v1/videos", json=fields, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _finished(api_url: str, video_id: str, timeout_s: float = 180) -> dict:
    def terminal():
        video = httpx.get(f"{api_url}/v1/videos/{video_id}", timeout=10).json()
        return video if video["status"] in ("completed", "failed", "cancelled") else None

    return wait_until(terminal, timeout_s=timeout_s, interval_s=0.1, what=f"{video_id} to finish")


def _frames(api_url: str, video_id: str) -> np.ndarray:
    return decode_mp4(httpx.get(f"{api_url}/v1/videos/{video_id}/content", timeout=30).content)


@pytest.fixture(scope="module")
def long_worker(env, redis, session_dir):
    from tests.support import start_worker

    worker = start_worker(
        env, redis, session_dir, ["embedded-long", "tiny-wan-long", "tiny-ltx-long", "tiny-cogvideox-long"]
    )
    yield worker
    worker.stop()


@pytest.mark.parametrize("model", ["tiny-wan-long", "tiny-ltx-long", "tiny-cogvideox-long"])
def test_each_family_continues_its_chunks_in_latent_space(api_url, long_worker, redis, model):
    video = _create(api_url, model=model, prompt="a ball | a cube", seconds="3", seed=5)
    done = _finished(api_url, video["id"])
    assert done["status"] == "completed", done["error"]
    plan = _record(redis, video["id"])["long_video"]["plan"]
    assert plan["chunks"] if "chunks" in plan else len(plan["new_frames"]) >= 2
    assert plan["prompts"][0] == "a ball" and plan["prompts"][-1] == "a cube"
    assert len(_frames(api_url, video["id"])) == 3 * done["fps"] + 1


def test_worker_killed_mid_chunk_resumes_at_that_chunk_with_the_same_frames(api_url, redis, worker_factory):
    fields = {"model": "embedded-long-kill", "prompt": "a blue circle going up", "seconds": "5", "seed": 11}
    steps = {"num_inference_steps": 40}
    first = worker_factory(["embedded-long-kill"])
    video = _create(api_url, **fields, **steps)
    wait_until(
        lambda: (_record(redis, video["id"]).get("long_video") or {}).get("done", 0) >= 2,
        timeout_s=120,
        what="two chunks to be checkpointed",
    )
    first.kill()
    killed_at = _record(redis, video["id"])["long_video"]["done"]

    worker_factory(["embedded-long-kill"])
    done = _finished(api_url, video["id"], timeout_s=240)
    assert done["status"] == "completed", done["error"]
    state = _record(redis, video["id"])["long_video"]
    chunks = len(state["plan"]["new_frames"])
    # Every chunk rendered exactly once: the first attempt's, then the second's from `killed_at` on.
    assert state["attempts"] == [1] * killed_at + [2] * (chunks - killed_at)
    assert killed_at < chunks

    again = _create(api_url, **fields, **steps)
    uninterrupted = _finished(api_url, again["id"], timeout_s=240)
    assert uninterrupted["status"] == "completed"
    resumed, whole = _frames(api_url, video["id"]).astype(int), _frames(api_url, again["id"]).astype(int)
    per_frame = np.abs(resumed - whole).max(axis=(1, 2, 3))
    assert not per_frame.any(), f"frames differ from the uninterrupted run: {per_frame.tolist()}, plan {state}"


def _completed(api_url: str, timeout_s: float = 180, **fields) -> dict:
    done = _finished(api_url, _create(api_url, **fields)["id"], timeout_s)
    assert done["status"] == "completed", done["error"]
    return done


def test_extension_by_id_continues_the_source_latents(client, api_url, long_worker, redis):
    source = _completed(api_url, model="embedded-long", prompt="a red square moving right", seconds="2", seed=3)
    validate("VideoResource", source)
    # The SDK takes only files for `video`; programs extending by id post the JSON themselves.
    from openai.types import Video

    extension = client.post(
        "/videos/extensions",
        body={"video": {"id": source["id"]}, "prompt": "a red square moving right", "seconds": "4"},
        cast_to=Video,
    )
    done = _finished(api_url, extension.id)
    assert done["status"] == "completed", done["error"]
    validate("VideoResource", done)
    assert (done["seconds"], done["size"], done["model"]) == ("6", source["size"], "embedded-long")
    assert done["num_frames"] == source["num_frames"] + 4 * 8
    assert _record(redis, done["id"])["long_video"]["continued_from"] == "latents"
    frames, original = _frames(api_url, done["id"]), _frames(api_url, source["id"])
    assert len(frames) == done["num_frames"]
    # The source's frames come first (re-encoded once more: within H.264's rounding).
    assert np.abs(frames[: len(original)].astype(int) - original.astype(int)).mean() < 2


def test_extension_of_an_upload_continues_its_frames(client, api_url, long_worker, redis):
    source = _completed(api_url, model="tiny-wan-long", prompt="a ball", seconds="1", seed=4)
    mp4 = httpx.get(f"{api_url}/v1/videos/{source['id']}/content", timeout=30).content
    extension = client.videos.extend(
        video=("clip.mp4", mp4, "video/mp4"), prompt="a ball", seconds="2", extra_body={"model": "tiny-wan-long"}
    )
    done = _finished(api_url, extension.id)
    assert done["status"] == "completed", done["error"]
    validate("VideoResource", done)
    assert _record(redis, done["id"])["long_video"]["continued_from"] == "frames"
    assert len(_frames(api_url, done["id"])) == source["num_frames"] + 2 * 8


def test_extension_refusals(api_url, long_worker):
    queued = _create(api_url, model="tiny-route-unserved", prompt="never rendered")
    finished = _completed(api_url, model="tiny-wan-long", prompt="a ball", seconds="1")

    def extend(**body):
        return httpx.post(
            f"{api_url}/v1/videos/extensions", json={"prompt": "more", "seconds": "4", **body}, timeout=10
        )

    not_done = extend(video={"id": queued["id"]})
    assert not_done.status_code == 409 and not_done.json()["error"]["code"] == "video_not_completed"
    assert not_done.headers["x-should-retry"] == "false"
    unknown = extend(video={"id": "video_" + "0" * 32})
    assert unknown.status_code == 404
    over = extend(video={"id": finished["id"]}, seconds="60")
    assert over.status_code == 400, over.text
    error = over.json()["error"]
    validate("Error", error)
    assert error["param"] == "seconds" and "at most 59 more seconds" in error["message"]
    missing = extend(video={"id": finished["id"]}, seconds=None)
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "seconds"
    bad_upload = httpx.post(
        f"{api_url}/v1/videos/extensions",
        files={"video": ("x.mp4", b"not a video", "video/mp4"), "prompt": (None, "more"), "seconds": (None, "2")},
        timeout=10,
    )
    assert bad_upload.status_code == 400 and bad_upload.json()["error"]["param"] == "video"


def test_transition_bridges_two_videos(api_url, long_worker, redis):
    first = _completed(api_url, model="tiny-wan-long", prompt="a ball", seconds="1", seed=1)
    second = _completed(api_url, model="tiny-wan-long", prompt="a cube", seconds="1", seed=2)
    response = httpx.post(
        f"{api_url}/v1/videos/transitions",
        json={"from": {"id": first["id"]}, "to": second["id"], "prompt": "the ball becomes a cube", "seconds": "1"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    done = _finished(api_url, response.json()["id"])
    assert done["status"] == "completed", done["error"]
    plan = _record(redis, done["id"])["long_video"]["plan"]
    assert plan["continues"] and plan["closes"]
    frames = _frames(api_url, done["id"])
    assert len(frames) == done["num_frames"] == first["num_frames"] + sum(plan["new_frames"]) + second["num_frames"]
    ending = _frames(api_url, second["id"])
    assert np.abs(frames[-len(ending) :].astype(int) - ending.astype(int)).mean() < 2


def test_loop_ends_on_a_bridge_into_its_first_frames(api_url, long_worker, redis):
    done = _completed(api_url, model="embedded-long", prompt="a green circle moving left", seconds="2", loop=True)
    plan = _record(redis, done["id"])["long_video"]["plan"]
    assert plan["closes"] and len(plan["new_frames"]) == 2
    assert len(_frames(api_url, done["id"])) == done["num_frames"] == 17


@pytest.mark.slow
def test_a_sixty_second_video_completes_on_the_embedded_model(api_url, long_worker, redis):
    # The smallest size and two steps: the length is what is tested, and it costs ~40 chunks.
    done = _completed(
        api_url, 900, model="embedded-long", prompt="a white circle going down", seconds="60", size="64x64"
    )
    assert (done["seconds"], done["num_frames"]) == ("60", 60 * 8 + 1)
    assert done["chunks"]["done"] == done["chunks"]["total"] >= 30
    assert len(_frames(api_url, done["id"])) == 481


def test_cancel_stops_a_long_video_between_steps(api_url, redis, worker_factory):
    worker_factory(["embedded-long-kill"])
    video = _create(api_url, model="embedded-long-kill", prompt="a red circle", seconds="8", num_inference_steps=40)
    wait_until(lambda: (_record(redis, video["id"]).get("chunks") or {}).get("done", 0) >= 1, what="a chunk")
    assert httpx.post(f"{api_url}/v1/videos/{video['id']}/cancel", timeout=10).json()["status"] == "cancelled"
    # The worker stops at its next step: it takes the next video while this one's plan is unfinished.
    following = _completed(api_url, model="embedded-long-kill", prompt="next", seconds="1")
    assert following["status"] == "completed"
    state = _record(redis, video["id"])
    assert state["status"] == "cancelled" and state["long_video"]["done"] < len(
        state["long_video"]["plan"]["new_frames"]
    )
