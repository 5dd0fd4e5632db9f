"""API keys and tenants, through the real `t2v keys` command line and a real API process."""

import re
import warnings

import httpx
import openai
import pytest
from openai import OpenAI

from tests.tenants import new_key, private_api, t2v


MODEL = "tiny-auth"
KEY_RE = re.compile(r"^t2v_[0-9a-f]{16}_[A-Za-z0-9_-]{40,}$")
MISSING_ID = "video_" + "f" * 32


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with private_api(tmp_path_factory.mktemp("auth-keys")) as api:
        yield api


@pytest.fixture(scope="module")
def keys(api) -> dict[str, str]:
    return {"alice": new_key(api.env, "alice laptop", "alice"), "bob": new_key(api.env, "bob")}


def sdk(api, key: str) -> OpenAI:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    return OpenAI(base_url=f"{api.base}/v1", api_key=key, max_retries=0)


def test_create_prints_the_key_last_and_list_never_shows_secrets(api, keys):
    result = t2v(api.env, "keys", "create", "--name", "ci runner", "--tenant", "ci")
    key = result.stdout.strip().splitlines()[-1]
    assert KEY_RE.match(key), result.stdout
    key_id, secret = key.split("_", 2)[1:]
    assert api.redis.hget(f"t2v:apikey:{key_id}", "tenant") == b"ci"

    listing = t2v(api.env, "keys", "list").stdout
    stored_hash = api.redis.hget(f"t2v:apikey:{key_id}", "hash").decode()
    assert key_id in listing and "ci runner" in listing and "alice laptop" in listing
    assert secret not in listing and stored_hash not in listing
    # Nothing on the server side holds the secret itself.
    assert all(secret.encode() not in v for v in api.redis.hgetall(f"t2v:apikey:{key_id}").values())

    # Tenant names end up in Redis key names, and `public` is the open server's caller.
    for tenant in ("a:b", "public"):
        refused = t2v(api.env, "keys", "create", "--name", "x", "--tenant", tenant, check=False)
        assert refused.returncode != 0 and f"tenant {tenant!r}" in refused.stderr


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({}, "missing"),
        ({"Authorization": "Bearer sk-not-ours"}, "foreign format"),
        ({"Authorization": "Bearer t2v_0123456789abcdef_guessed"}, "unknown key id"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "wrong scheme"),
    ],
)
def test_missing_or_wrong_keys_are_401_envelopes(api, keys, headers, why):
    for method, path in (
        ("GET", "/v1/videos"),
        ("POST", "/v1/videos"),
        ("GET", f"/v1/videos/{MISSING_ID}"),
        ("GET", "/v1/models"),
        ("GET", "/videos"),
    ):
        response = httpx.request(method, f"{api.base}{path}", headers=headers, json={"prompt": "x"})
        assert response.status_code == 401, (why, path, response.text)
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
    assert api.get("/healthz").status_code == 200


def test_a_key_with_the_right_id_but_wrong_secret_is_refused(api, keys):
    key_id = keys["alice"].split("_", 2)[1]
    assert api.get("/v1/videos", f"t2v_{key_id}_{'A' * 43}").status_code == 401
    assert api.get("/v1/videos", keys["alice"]).status_code == 200


def test_openai_client_with_a_key_creates_retrieves_and_lists(api, keys):
    client = sdk(api, keys["alice"])
    video = client.videos.create(model=MODEL, prompt="a lighthouse at dusk")
    assert video.status == "queued" and video.model == MODEL
    assert client.videos.retrieve(video.id).id == video.id
    assert video.id in [v.id for v in client.videos.list(limit=100).data]
    with pytest.raises(openai.AuthenticationError):
        sdk(api, "t2v_0123456789abcdef_wrong").videos.list()


def test_a_tenant_cannot_see_or_touch_another_tenants_videos(api, keys):
    alice, bob = keys["alice"], keys["bob"]
    video = api.post("/v1/videos", alice, json={"model": MODEL, "prompt": "alice's secret garden"}).json()
    own = video["id"]

    def as_bob(method: str, video_id: str):
        path = f"/v1/videos/{video_id}"
        if method == "retrieve":
            return api.get(path, bob)
        if method == "content":
            return api.get(f"{path}/content", bob)
        if method == "cancel":
            return api.post(f"{path}/cancel", bob)
        if method == "webhooks":
            return api.get(f"{path}/webhooks", bob)
        return api.delete(path, bob)

    for method in ("retrieve", "content", "cancel", "webhooks", "delete"):
        theirs, missing = as_bob(method, own), as_bob(method, MISSING_ID)
        assert theirs.status_code == missing.status_code == 404, (method, theirs.text)
        # Indistinguishable from a missing video: the same envelope but for the id itself.
        assert theirs.json()["error"] == {
            **missing.json()["error"],
            "message": missing.json()["error"]["message"].replace(MISSING_ID, own),
        }
    assert own not in [v["id"] for v in api.get("/v1/videos?limit=100", bob).json()["data"]]
    # Bob's cancel and delete changed nothing.
    still = api.get(f"/v1/videos/{own}", alice)
    assert still.status_code == 200 and still.json()["status"] == "queued"
    assert own in [v["id"] for v in api.get("/v1/videos?limit=100", alice).json()["data"]]
    # Two keys of one tenant share its videos.
    second = new_key(api.env, "alice phone", "alice")
    assert api.get(f"/v1/videos/{own}", second).status_code == 200


def test_revoking_a_key_locks_it_out_at_once(api, keys):
    key = new_key(api.env, "temporary", "temp")
    assert api.get("/v1/videos", key).status_code == 200
    key_id = key.split("_", 2)[1]
    t2v(api.env, "keys", "revoke", key_id)
    response = api.get("/v1/videos", key)
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    rows = [re.split(r"\s{2,}", line) for line in t2v(api.env, "keys", "list").stdout.splitlines()]
    (row,) = [row for row in rows if row[0] == key_id]
    assert row[1] == "temp" and row[3] != "-"
    assert all(row[3] == "-" for row in rows[1:] if row[0] != key_id)
    assert t2v(api.env, "keys", "revoke", key_id, check=False).returncode != 0
    # Other keys keep working.
    assert api.get("/v1/videos", keys["bob"]).status_code == 200
