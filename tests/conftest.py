"""Shared fixtures: one real Valkey server, one API process and one tiny-model worker per session.

Tests that need their own worker start it with `worker_factory` on their own catalog model
(see tests/fixtures/catalog.toml), so their jobs can't mix with anyone else's.
"""

import warnings
from pathlib import Path

import pytest
from openai import OpenAI
from redis import Redis

from app.embedded_redis import EmbeddedRedis, free_port
from tests.support import base_env, start_api, start_worker


FIXTURES = Path(__file__).parent / "fixtures"
TEST_CATALOG = FIXTURES / "catalog.toml"


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("t2v")


@pytest.fixture(scope="session")
def redis_server(session_dir):
    server = EmbeddedRedis(session_dir / "redis").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis(redis_server) -> Redis:
    return Redis.from_url(redis_server.url)


@pytest.fixture(scope="session")
def data_dir(session_dir) -> Path:
    path = session_dir / "data"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def env(redis_server, data_dir) -> dict[str, str]:
    return base_env(redis_server.url, data_dir, TEST_CATALOG)


@pytest.fixture(scope="session")
def api_url(env, session_dir):
    api, base = start_api(env, free_port(), session_dir)
    yield base
    api.stop()


@pytest.fixture(scope="session")
def default_worker(env, redis, session_dir):
    worker = start_worker(env, redis, session_dir, ["tiny-wan"])
    yield worker
    worker.stop()


@pytest.fixture
def worker_factory(env, redis, tmp_path):
    """Start workers for a test; all are stopped (or were killed by it) at the end."""
    started = []

    def start(models: list[str], queues=(), extra_env: dict[str, str] | None = None):
        return start_worker({**env, **(extra_env or {})}, redis, tmp_path, models, queues, started)

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(scope="session")
def client(api_url, default_worker) -> OpenAI:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    return OpenAI(base_url=f"{api_url}/v1", api_key="test-key", max_retries=0)
