"""Redis that survives losing its primary: a replica and three sentinels (the bundled Valkey binary
in sentinel mode), the API and two workers connected through the sentinels. The primary is
SIGKILLed under a stream of creates and renders; every video that got a 200 completes, once."""

import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from redis import Redis
from redis.exceptions import RedisError

from app.embedded_redis import free_port, valkey_binary
from tests.conftest import TEST_CATALOG
from tests.support import base_env, start_api, start_worker, wait_until


SERVICE = "t2v"
MODEL = "tiny-wan"
CREATE_EVERY_S = 0.15


def valkey(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([str(valkey_binary()), *args], stdout=out, stderr=subprocess.STDOUT)


def server_args(port: int, data: Path, *extra: str) -> list[str]:
    data.mkdir(parents=True, exist_ok=True)
    # fsync always on both, as the embedded server: what a replica acknowledged is on its disk.
    return [
        *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--save", ""),
        *("--appendonly", "yes", "--appendfsync", "always", *extra),
    ]


def sentinel_config(path: Path, port: int, primary_port: int) -> Path:
    path.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {path.parent}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary_port} 2\n"
        # Fast detection for the test, yet slow enough that a primary busy on two loaded cores is
        # not taken for dead; production keeps Valkey's defaults or a few seconds.
        f"sentinel down-after-milliseconds {SERVICE} 2500\n"
        f"sentinel failover-timeout {SERVICE} 10000\n"
    )
    return path


def primary_port(sentinel: Redis) -> int | None:
    try:
        address = sentinel.execute_command("SENTINEL", "get-master-addr-by-name", SERVICE)
    except RedisError:
        return None
    return int(address[1]) if address else None


def answers(redis: Redis) -> bool:
    try:
        return redis.ping()
    except RedisError:
        return False


class CreateStream(threading.Thread):
    """Creates videos at a steady pace and notes every answer."""

    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base, self.accepted, self.refused, self.other = base, [], [], []
        self.stopping = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as http:
            i = 0
            while not self.stopping.is_set():
                i += 1
                body = {"prompt": f"failover {i}", "model": MODEL, "num_inference_steps": 6}
                try:
                    response = http.post("/v1/videos", json=body)
                except httpx.HTTPError as exc:
                    self.other.append(repr(exc))
                    continue
                if response.status_code == 200:
                    self.accepted.append(response.json()["id"])
                elif response.status_code == 503 and response.headers.get("retry-after"):
                    self.refused.append(time.monotonic())
                else:
                    self.other.append(f"{response.status_code} {response.text[:200]}")
                self.stopping.wait(CREATE_EVERY_S)


@pytest.mark.slow
def test_primary_killed_under_load_loses_no_accepted_video(tmp_path):
    ports = {"primary": free_port(), "replica": free_port()}
    primary_cmd = server_args(ports["primary"], tmp_path / "primary")
    processes = {
        "primary": valkey(primary_cmd, tmp_path / "primary.log"),
        "replica": valkey(
            server_args(ports["replica"], tmp_path / "replica", "--replicaof", "127.0.0.1", str(ports["primary"])),
            tmp_path / "replica.log",
        ),
    }
    sentinel_ports = [free_port() for _ in range(3)]
    for i, port in enumerate(sentinel_ports):
        config = sentinel_config(tmp_path / f"sentinel-{i}.conf", port, ports["primary"])
        processes[f"sentinel-{i}"] = valkey([str(config), "--sentinel"], tmp_path / f"sentinel-{i}.log")
    services = []
    stream = None
    try:
        primary = Redis(port=ports["primary"], socket_timeout=2)
        replica = Redis(port=ports["replica"], socket_timeout=2)
        sentinel = Redis(port=sentinel_ports[0], socket_timeout=2)
        wait_until(lambda: answers(primary) and answers(replica), timeout_s=20, what="both servers")
        wait_until(lambda: replica.info("replication")["master_link_status"] == "up", timeout_s=20, what="replication")
        wait_until(
            lambda: answers(sentinel) and sentinel.execute_command("SENTINEL", "replicas", SERVICE),
            timeout_s=30,
            what="the sentinels to see the replica",
        )

        env = base_env(
            f"redis://127.0.0.1:{ports['primary']}/0",
            tmp_path / "data",
            TEST_CATALOG,
            T2V_REDIS_SENTINELS=",".join(f"127.0.0.1:{p}" for p in sentinel_ports),
            T2V_REDIS_SENTINEL_SERVICE=SERVICE,
            T2V_REDIS_REPLICA_ACK_TIMEOUT_MS="500",
        )
        api, base = start_api(env, free_port(), tmp_path)
        services.append(api)
        for _ in range(2):
            start_worker(env, primary, tmp_path, [MODEL], started=services)

        stream = CreateStream(base)
        stream.start()
        wait_until(lambda: len(stream.accepted) >= 10, timeout_s=60, what="creates before the kill")
        accepted_before = len(stream.accepted)

        processes["primary"].kill()
        killed_at = time.monotonic()
        wait_until(lambda: primary_port(sentinel) == ports["replica"], timeout_s=60, what="the failover")
        failover_s = time.monotonic() - killed_at
        # Its supervisor restarts the old primary as a replica of whichever server the sentinels
        # name now (left to the sentinels alone, a returning primary is demoted ~20 s later).
        current = ["--replicaof", "127.0.0.1", str(primary_port(sentinel))]
        processes["primary"] = valkey(primary_cmd + current, tmp_path / "primary.log")
        servers = {ports["primary"]: primary, ports["replica"]: replica}

        def replicating() -> bool:
            # Whichever server the sentinels name now, the other one follows it again.
            current = primary_port(sentinel)
            if current not in servers or not all(answers(server) for server in servers.values()):
                return False
            (follower,) = (server for port, server in servers.items() if port != current)
            link = follower.info("replication")
            return link.get("master_link_status") == "up" and link.get("master_port") == current

        wait_until(replicating, timeout_s=60, what="the old primary to rejoin as a replica")
        rejoined_s = time.monotonic() - killed_at
        recovered = len(stream.accepted)
        wait_until(lambda: len(stream.accepted) >= recovered + 10, timeout_s=60, what="creates after the failover")
        stream.stopping.set()
        stream.join(timeout=30)

        with httpx.Client(base_url=base, timeout=30) as http:

            def statuses() -> dict[str, str]:
                found = {}
                for video_id in stream.accepted:
                    response = http.get(f"/v1/videos/{video_id}")
                    found[video_id] = (
                        response.json()["status"] if response.status_code == 200 else str(response.status_code)
                    )
                return found

            def settled():
                found = statuses()
                return found if all(s in ("completed", "failed", "cancelled", "404") for s in found.values()) else None

            final = wait_until(settled, timeout_s=240, interval_s=1, what="every accepted video to finish")
        completed = [v for v, s in final.items() if s == "completed"]
        lost = [v for v, s in final.items() if s != "completed"]
        videos = tmp_path / "data" / "videos"
        rendered_twice = [v for v in completed if len(list((videos / v).glob("*/video.mp4"))) > 1]
        refused_window = (max(stream.refused) - min(stream.refused)) if stream.refused else 0.0
        print(
            f"\nfailover: primary down -> replica promoted in {failover_s:.1f} s; old primary back as a replica "
            f"after {rejoined_s:.1f} s; 503s seen: {len(stream.refused)} over {refused_window:.1f} s; "
            f"accepted: {len(stream.accepted)} ({accepted_before} before the kill); completed: {len(completed)}; "
            f"lost: {len(lost)}; rendered twice: {len(rendered_twice)}; other answers: {stream.other[:3]}"
        )
        assert not stream.other, stream.other
        assert lost == [], {v: final[v] for v in lost}
        assert rendered_twice == []
        named = primary_port(sentinel)
        assert servers[named].info("replication")["role"] == "master"
    finally:
        if stream is not None:
            stream.stopping.set()
        for service in services:
            service.stop()
        for process in processes.values():
            process.kill()
            process.wait()
