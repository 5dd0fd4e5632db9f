"""Five hosts really apart (network namespaces on a private bridge): Redis, the API, two workers and
an S3 store (moto), each process bound to its own host's address, nothing shared but the network.
One worker host's link is cut mid-render: the other host finishes its video; when the link comes
back, the cut worker finds its claim gone and leaves the finished file alone."""

import secrets
import subprocess
import sys
import time

import boto3
import httpx
import pytest
from botocore.config import Config
from redis import Redis
from redis.exceptions import RedisError

from app.embedded_redis import valkey_binary
from app.liveness import live_workers
from tests.conftest import TEST_CATALOG
from tests.netns import Hosts, unavailable
from tests.support import ROOT, base_env, wait_until


MODEL = "tiny-wan-slow"
STEPS = 40
VIDEOS = 3
BUCKET = "t2v-hosts"
WHY_NOT = unavailable()
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")


def holder_pid(record_worker: str | None) -> int | None:
    # Worker names are <hostname>.<pid>.<random>; the namespaces share one hostname.
    return int(record_worker.split(".")[-2]) if record_worker else None


@pytest.mark.slow
def test_a_cut_worker_host_loses_its_video_to_the_other_and_never_overwrites_it(tmp_path):
    hosts = Hosts(["redis", "s3", "api", "worker-a", "worker-b", "client"]).build()
    password = secrets.token_hex(8)
    redis_url = f"redis://:{password}@{hosts.address('redis')}:6379/0"
    s3_url = f"http://{hosts.address('s3')}:5000"
    api_url = f"http://{hosts.address('api')}:8000"
    processes: dict[str, subprocess.Popen] = {}
    logs = {}

    def start(host: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        logs[host] = tmp_path / f"{host}.log"
        with open(logs[host], "ab") as log:
            processes[host] = hosts.popen(host, argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        return processes[host]

    def env_for(host: str) -> dict[str, str]:
        # Each host its own data directory: videos travel only through S3.
        return base_env(
            redis_url,
            tmp_path / host,
            TEST_CATALOG,
            T2V_ALLOW_OPEN_NETWORK="true",
            T2V_STORAGE="s3",
            T2V_S3_BUCKET=BUCKET,
            T2V_S3_ENDPOINT_URL=s3_url,
            T2V_S3_ADDRESSING_STYLE="path",
            T2V_S3_ACCESS_KEY_ID="testing",
            T2V_S3_SECRET_ACCESS_KEY="testing",
            T2V_S3_CREATE_BUCKET="true",
        )

    try:
        address = hosts.address
        redis_argv = [str(valkey_binary()), "--bind", address("redis"), "--port", "6379", "--requirepass", password]
        start("redis", [*redis_argv, "--save", "", "--dir", str(tmp_path)])
        start("s3", [sys.executable, "-m", "moto.server", "-H", address("s3"), "-p", "5000"])
        start(
            "api", [sys.executable, "-m", "app.cli", "api", "--host", address("api"), "--port", "8000"], env_for("api")
        )
        for worker in ("worker-a", "worker-b"):
            start(worker, [sys.executable, "-m", "app.cli", "worker", "--models", MODEL], env_for(worker))

        def scenario() -> dict:
            redis = Redis.from_url(redis_url, socket_timeout=5)
            wait_until(lambda: _answers(redis), timeout_s=20, what="Redis on its host")
            workers = {processes[w].pid: w for w in ("worker-a", "worker-b")}
            wait_until(
                lambda: {w.get("pid") for w in live_workers(redis).values()} >= set(workers),
                timeout_s=120,
                what="both worker hosts",
            )
            http = httpx.Client(base_url=api_url, timeout=30)
            wait_until(lambda: _get(http, "/healthz"), timeout_s=60, what="the API host")
            body = {"model": MODEL, "prompt": "hosts", "size": "64x64", "num_inference_steps": STEPS}
            ids = [http.post("/v1/videos", json={**body, "prompt": f"host {i}"}).json()["id"] for i in range(VIDEOS)]

            def a_rendering():
                for video_id in ids:
                    record = http.get(f"/v1/videos/{video_id}").json()
                    raw = redis.hget(f"t2v:video:{video_id}", "worker")
                    worker = raw.decode().strip('"') if raw and raw != b"null" else None
                    if record["progress"] > 0 and workers.get(holder_pid(worker)) == "worker-a":
                        return video_id
                return None

            cut_video = wait_until(a_rendering, timeout_s=120, what="worker-a to be mid-render")
            hosts.set_link("worker-a", up=False)
            cut_at = time.monotonic()
            done = wait_until(
                lambda: (v := http.get(f"/v1/videos/{cut_video}").json())["status"] in ("completed", "failed") and v,
                timeout_s=60,
                interval_s=0.5,
                what="the cut host's video to be finished by the other",
            )
            taken_over_s = time.monotonic() - cut_at
            assert done["status"] == "completed", done
            finisher = redis.hget(f"t2v:video:{cut_video}", "worker").decode().strip('"')
            assert workers[holder_pid(finisher)] == "worker-b"
            first_bytes = http.get(f"/v1/videos/{cut_video}/content").content

            hosts.set_link("worker-a", up=True)
            back_at = time.monotonic()
            a_pid = processes["worker-a"].pid

            def a_gave_up():
                mine = [w for w in live_workers(redis).values() if w.get("pid") == a_pid]
                return bool(mine) and all(w.get("current_video") != cut_video for w in mine)

            wait_until(a_gave_up, timeout_s=60, interval_s=0.5, what="worker-a to give up the lost claim")
            noticed_s = time.monotonic() - back_at
            wait_until(
                lambda: all(http.get(f"/v1/videos/{v}").json()["status"] == "completed" for v in ids),
                timeout_s=120,
                interval_s=0.5,
                what="every video to complete",
            )
            s3 = boto3.client(
                "s3",
                endpoint_url=s3_url,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(s3={"addressing_style": "path"}),
            )
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
            finals = {v: http.get(f"/v1/videos/{v}").json() for v in ids}
            return {
                "ids": ids,
                "cut_video": cut_video,
                "taken_over_s": taken_over_s,
                "noticed_s": noticed_s,
                "first_bytes": first_bytes,
                "last_bytes": http.get(f"/v1/videos/{cut_video}/content").content,
                "keys": keys,
                "finals": finals,
            }

        result = hosts.run_in("client", scenario)
    finally:
        for process in processes.values():
            process.kill()
            process.wait()
        hosts.remove()

    videos_per_id = {
        v: [k for k in result["keys"] if k.startswith(f"{v}/") and k.endswith("/video.mp4")] for v in result["ids"]
    }
    print(
        f"\nhosts: worker-a cut mid-render; worker-b finished its video {result['taken_over_s']:.1f} s later; "
        f"worker-a gave up its lost claim {result['noticed_s']:.1f} s after its link came back; "
        f"videos: {len(result['ids'])} accepted, "
        f"{sum(f['status'] == 'completed' for f in result['finals'].values())} completed, "
        f"stored MP4s per video: {sorted(len(k) for k in videos_per_id.values())}"
    )
    assert all(f["status"] == "completed" for f in result["finals"].values())
    # One MP4 per video: the cut worker's attempt was never stored over, or next to, the finished one.
    assert all(len(keys) == 1 for keys in videos_per_id.values()), videos_per_id
    assert result["last_bytes"] == result["first_bytes"] and result["first_bytes"][4:8] == b"ftyp"


def _answers(redis: Redis) -> bool:
    try:
        return redis.ping()
    except RedisError:
        return False


def _get(http: httpx.Client, path: str) -> bool:
    try:
        return http.get(path).status_code == 200
    except httpx.HTTPError:
        return False
