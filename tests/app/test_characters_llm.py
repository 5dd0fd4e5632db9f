"""With an LLM configured, a character is described by it looking at a frame of the video (the
openai client's image input), and prompts that name the character get that description."""

import numpy as np

from models.embedded import world
from tests.llm_server import FakeLLM
from tests.tenants import private_api
from workers.encode import write_mp4


def test_the_llm_sees_a_frame_and_its_description_replaces_the_name(tmp_path):
    clip = world.render(world.sample_spec(4, width=64, height=64, num_frames=9)).astype(np.float32) / 255.0
    write_mp4(clip, 8, tmp_path / "clip.mp4")
    llm = FakeLLM().start()
    llm.reset("reply", reply="A small red circle with a soft edge.")
    try:
        with private_api(tmp_path, T2V_LLM_BASE_URL=llm.base_url, T2V_LLM_API_KEY="test") as api:
            files = {"video": ("clip.mp4", (tmp_path / "clip.mp4").read_bytes(), "video/mp4")}
            created = api.post("/v1/videos/characters", data={"name": "Mira"}, files=files)
            assert created.status_code == 200, created.text
            assert created.json()["description"] == "A small red circle with a soft edge"
            parts = llm.calls[-1]["messages"][-1]["content"]
            images = [p for p in parts if p["type"] == "image_url"]
            assert len(images) == 1 and images[0]["image_url"]["url"].startswith("data:image/png;base64,")
            body = {"prompt": "mira rolls to the left", "model": "tiny-wan-text", "expand_prompt": False}
            video = api.post("/v1/videos", json=body).json()
            assert video["revised_prompt"] == "A small red circle with a soft edge rolls to the left"
            assert video["prompt"] == "mira rolls to the left"
    finally:
        llm.stop()
