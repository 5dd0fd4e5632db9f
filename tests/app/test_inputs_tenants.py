"""Remix, edits and characters keep to their tenant: another tenant's video or character is
indistinguishable from a missing one, and character names are per tenant."""

import numpy as np

from models.embedded import world
from tests.contracts import validate
from tests.tenants import new_key, private_api
from workers.encode import write_mp4


def test_other_tenants_videos_and_characters_are_not_found(tmp_path):
    clip = world.render(world.sample_spec(2, width=64, height=64, num_frames=9)).astype(np.float32) / 255.0
    write_mp4(clip, 8, tmp_path / "clip.mp4")
    upload = {"video": ("clip.mp4", (tmp_path / "clip.mp4").read_bytes(), "video/mp4")}
    with private_api(tmp_path) as api:
        alice, bob = new_key(api.env, "alice", "alice"), new_key(api.env, "bob", "bob")
        # Nobody serves this model: the video stays queued.
        video = api.post("/v1/videos", alice, json={"prompt": "a red ball", "model": "tiny-wan-text"}).json()
        for path, body in (
            (f"/v1/videos/{video['id']}/remix", {"prompt": "a blue ball"}),
            ("/v1/videos/edits", {"video": {"id": video["id"]}, "prompt": "a blue ball"}),
        ):
            response = api.post(path, bob, json=body)
            assert response.status_code == 404, response.text
            validate("ErrorResponse", response.json())
            # Its owner learns why it cannot be re-drawn yet.
            response = api.post(path, alice, json=body)
            assert response.status_code == 409 and "queued" in response.json()["error"]["message"]
            assert response.headers["x-should-retry"] == "false"

        created = api.post("/v1/videos/characters", alice, data={"name": "Mira"}, files=upload)
        assert created.status_code == 200, created.text
        character = created.json()
        validate("VideoCharacterResource", character)
        assert api.get(f"/v1/videos/characters/{character['id']}", alice).json()["name"] == "Mira"
        assert api.get(f"/v1/videos/characters/{character['id']}", bob).status_code == 404
        # Names are per tenant: Bob may have a Mira of his own, Alice not a second one.
        assert api.post("/v1/videos/characters", bob, data={"name": "Mira"}, files=upload).status_code == 200
        again = api.post("/v1/videos/characters", alice, data={"name": " mira "}, files=upload)
        assert again.status_code == 409 and again.json()["error"]["param"] == "name"
