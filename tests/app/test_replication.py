"""A create is answered 200 only once a replica holds the video; 503 and nothing left otherwise."""

import signal
import subprocess

import pytest
from redis import Redis

from app.embedded_redis import free_port, valkey_binary
from app.records import ACTIVE_SET
from app.redis_conn import sentinel_addresses
from tests.support import wait_until
from tests.tenants import private_api


BODY = {"prompt": "a kite", "model": "tiny-wan"}


def test_without_the_required_replica_a_create_is_503_and_leaves_nothing(tmp_path):
    with private_api(tmp_path, T2V_REDIS_MIN_REPLICAS="1", T2V_REDIS_REPLICA_ACK_TIMEOUT_MS="50") as api:
        refused = api.post("/v1/videos", json=BODY)
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1, refused.text
        assert refused.json()["error"]["type"] == "server_error"
        # Withdrawn: no record, no queued job, nothing counted as active.
        assert api.get("/v1/videos").json()["data"] == []
        assert api.redis.keys("t2v:video:*") == [] and api.redis.llen("rq:queue:render:tiny-wan") == 0
        assert api.redis.scard(ACTIVE_SET) == 0


def test_with_a_replica_attached_creates_wait_for_it(tmp_path):
    with private_api(tmp_path, T2V_REDIS_REPLICA_ACK_TIMEOUT_MS="300") as api:
        port = api.redis.connection_pool.connection_kwargs["port"]
        (tmp_path / "replica").mkdir()
        replica_port = free_port()
        replica_args = [
            "--port",
            str(replica_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp_path / "replica"),
        ]
        replica_process = subprocess.Popen(
            [str(valkey_binary()), *replica_args, "--replicaof", "127.0.0.1", str(port)], stdout=subprocess.DEVNULL
        )
        try:
            replica = Redis(port=replica_port)
            wait_until(lambda: _linked(replica), timeout_s=20, what="the replica to sync")
            # Detected without configuration: the 200 comes once the replica holds the video.
            created = api.post("/v1/videos", json=BODY)
            assert created.status_code == 200, created.text
            assert replica.exists(f"t2v:video:{created.json()['id']}")
            # A replica still connected but not acknowledging (stopped): the create is refused.
            replica_process.send_signal(signal.SIGSTOP)
            refused = api.post("/v1/videos", json={**BODY, "prompt": "while the replica is stopped"})
            assert refused.status_code == 503, refused.text
            replica_process.send_signal(signal.SIGCONT)
            assert api.post("/v1/videos", json=BODY).status_code == 200
            assert len(api.get("/v1/videos").json()["data"]) == 2
        finally:
            replica_process.kill()
            replica_process.wait()


def test_sentinel_addresses_parse_and_refuse_garbage():
    assert sentinel_addresses("10.0.0.5:26379, 10.0.0.6:26379,[::1]:26380") == [
        ("10.0.0.5", 26379),
        ("10.0.0.6", 26379),
        ("::1", 26380),
    ]
    with pytest.raises(ValueError, match="not host:port"):
        sentinel_addresses("10.0.0.5")


def _linked(replica: Redis) -> bool:
    try:
        return replica.info("replication").get("master_link_status") == "up"
    except Exception:
        return False
