"""The create path's cost in Redis round trips, the job it writes for RQ, and `t2v api --workers N`."""

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from redis import ConnectionPool, Redis
from redis.asyncio import ConnectionPool as AsyncConnectionPool
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.connection import Connection as AsyncConnection
from redis.connection import Connection
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from app.auth import create_key
from app.commit import CommandList
from app.embedded_redis import EmbeddedRedis, free_port
from app.liveness import announce
from app.main import create_app
from app.queueing import RENDER_JOB, RQ_TIME, enqueue_render, queue, render_job_id, render_queue_name
from app.records import RecordStore
from app.redis_conn import AsyncClients, BlockingCall, GuardedRedis, no_blocking_calls
from app.settings import Settings
from tests.support import Service, base_env, wait_until
from tests.tenants import TEST_CATALOG


class CountingConnection(Connection):
    """A real connection that counts what it sends: one packed send is one round trip."""

    sends = 0

    def send_packed_command(self, command, check_health=True):
        CountingConnection.sends += 1
        return super().send_packed_command(command, check_health)


@pytest.fixture
def redis_url(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis").start()
    yield server.url
    server.stop()


class CountingAsyncConnection(AsyncConnection):
    """The same count for the event loop's own client."""

    async def send_packed_command(self, command, check_health=True):
        CountingConnection.sends += 1
        return await super().send_packed_command(command, check_health)


class CountingAsyncClients(AsyncClients):
    def current(self) -> AsyncRedis:
        if not hasattr(self, "client"):
            pool = AsyncConnectionPool.from_url(self.settings.redis_url, connection_class=CountingAsyncConnection)
            self.client = AsyncRedis(connection_pool=pool)
        return self.client


def counting_app(redis_url: str, data_dir: Path) -> TestClient:
    """The API with every Redis command it sends counted (one client context: one event loop)."""
    settings = Settings(redis_url=redis_url, data_dir=data_dir, catalog=TEST_CATALOG, default_model="tiny-wan")
    app = create_app(settings)
    counted = GuardedRedis(connection_pool=ConnectionPool.from_url(redis_url, connection_class=CountingConnection))
    app.state.redis, app.state.store = counted, RecordStore(counted)
    app.state.async_redis = CountingAsyncClients(settings)
    return TestClient(app)


def test_a_create_is_one_redis_round_trip_while_keys_and_workers_are_known(redis_url, tmp_path):
    announce(Redis.from_url(redis_url), "live-worker", {"models": ["tiny-wan"]}, ttl_s=60)
    with counting_app(redis_url, tmp_path) as client:
        first = client.post("/v1/videos", json={"prompt": "a red circle"}, headers={"Authorization": "Bearer sk-x"})
        assert first.status_code == 200, first.text
        # The worker is live, so no "waits in the queue" note; the queue position came back too.
        assert first.json()["warning"] is None and first.json()["queue_position"] == 1
        # The first create filled the caches (from a thread); the second opened the event loop's
        # own connection; from then on a create is one send.
        assert client.post("/v1/videos", json={"prompt": "a green dot"}).json()["queue_position"] == 2
        CountingConnection.sends = 0
        third = client.post("/v1/videos", json={"prompt": "a blue square"}, headers={"Authorization": "Bearer sk-x"})
        assert third.status_code == 200 and third.json()["queue_position"] == 3
        assert CountingConnection.sends == 1


def test_a_first_key_is_required_within_a_second(redis_url, tmp_path):
    client = counting_app(redis_url, tmp_path)
    assert client.get("/v1/videos").status_code == 200
    create_key(Redis.from_url(redis_url), "ops", "ops")
    wait_until(lambda: client.get("/v1/videos").status_code == 401, timeout_s=3, what="the key to count")


def test_api_with_several_workers_serves_creates_on_one_port(redis_url, tmp_path):
    env = base_env(redis_url, tmp_path, TEST_CATALOG)
    port = free_port()
    api = Service(["api", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"], env, tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}"
    try:

        def children() -> list[str]:
            path = Path(f"/proc/{api.pid}/task/{api.pid}/children")
            return path.read_text().split() if path.exists() else []

        wait_until(lambda: len(children()) >= 2, timeout_s=60, what="two server processes")

        def answers() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, timeout_s=60, what="the API to answer")
        ids = {httpx.post(f"{base}/v1/videos", json={"prompt": f"video {i}"}).json()["id"] for i in range(6)}
        assert len(ids) == 6
        assert Redis.from_url(redis_url).scard("t2v:videos:active") == 6
    finally:
        api.stop()


def test_api_refuses_fewer_than_one_worker(redis_url, tmp_path):
    env = base_env(redis_url, tmp_path, TEST_CATALOG)
    api = Service(["api", "--port", str(free_port()), "--workers", "0"], env, tmp_path / "api.log")
    api.process.wait(timeout=60)
    assert api.process.returncode != 0
    assert "--workers must be at least 1" in api.output()


def _without_times(commands: list[tuple]) -> list[tuple]:
    return [tuple("<time>" if isinstance(w, str) and RQ_TIME.match(w) else w for w in c) for c in commands]


def test_a_job_is_written_word_for_word_as_rq_writes_it(redis_url):
    redis = Redis.from_url(redis_url)
    for video_id, attempt in (("video_" + "a" * 32, 0), ("video_" + "0123456789abcdef" * 2, 3)):
        ours, theirs = CommandList(), CommandList()
        record = {"id": video_id, "model": "tiny-wan", "enqueues": attempt}
        enqueue_render(redis, record, timeout_s=3600, result_ttl_s=86400, pipe=ours)
        job = Queue.prepare_data(
            RENDER_JOB,
            args=[video_id],
            timeout=3600,
            result_ttl=86400,
            failure_ttl=86400,
            job_id=render_job_id(video_id, attempt),
            description=f"render {video_id}",
        )
        queue(render_queue_name("tiny-wan"), redis).enqueue_many([job], pipeline=theirs)
        assert _without_times(ours.commands) == _without_times(theirs.commands)

    # Written on its own, RQ reads it back as the job it would have made.
    enqueue_render(redis, {"id": "video_" + "b" * 32, "model": "tiny-wan"}, timeout_s=600, result_ttl_s=60)
    job = Job.fetch(render_job_id("video_" + "b" * 32, 0), connection=redis, serializer=JSONSerializer)
    assert (job.func_name, job.args, job.timeout, job.get_status()) == (
        RENDER_JOB,
        ["video_" + "b" * 32],
        600,
        "queued",
    )
    assert queue(render_queue_name("tiny-wan"), redis).job_ids[-1] == job.id


def test_the_blocking_client_refuses_to_block_where_the_event_loop_runs(redis_url):
    redis = GuardedRedis.from_url(redis_url)
    redis.set("greeting", "hello")
    with no_blocking_calls():
        with pytest.raises(BlockingCall):
            redis.get("greeting")
        with pytest.raises(BlockingCall):
            redis.pipeline()
    assert redis.get("greeting") == b"hello"


def test_the_api_takes_its_startup_heap_out_of_garbage_collection(redis_url, tmp_path):
    """The oldest-generation collection walked every object imported at start-up, up to 0.2 s
    at a time under load (app/gc_tuning.py); once the app is up, those objects are frozen."""
    import gc

    from app.gc_tuning import THRESHOLDS

    gc.unfreeze()  # as a fresh process starts (another test's app may have frozen this one)
    gc.set_threshold(700, 10, 10)
    try:
        with counting_app(redis_url, tmp_path) as client:
            assert gc.get_freeze_count() > 10_000
            assert gc.get_threshold() == THRESHOLDS
            assert client.post("/v1/videos", json={"prompt": "a red circle"}).status_code == 200
    finally:
        gc.unfreeze()
        gc.set_threshold(700, 10, 10)
