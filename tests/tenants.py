"""A private Valkey and API for tests that create API keys.

Keys turn authentication on for every caller of a Redis, so these tests never touch the session
API's Redis (tests/conftest.py): each module starts its own with `private_api`.
"""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from redis import Redis

from app.embedded_redis import EmbeddedRedis, free_port
from tests.support import ROOT, base_env, start_api


TEST_CATALOG = Path(__file__).parent / "fixtures" / "catalog.toml"


def t2v(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the `t2v` command line the way an operator would."""
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    if check and result.returncode != 0:
        raise AssertionError(f"t2v {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def new_key(env: dict[str, str], name: str, tenant: str | None = None) -> str:
    args = ["keys", "create", "--name", name] + (["--tenant", tenant] if tenant else [])
    return t2v(env, *args).stdout.strip().splitlines()[-1]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class PrivateApi:
    def __init__(self, base: str, env: dict[str, str], redis: Redis):
        self.base, self.env, self.redis = base, env, redis

    def get(self, path: str, key: str | None = None, **kwargs) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers=bearer(key) if key else {}, timeout=20, **kwargs)

    def post(self, path: str, key: str | None = None, headers: dict | None = None, **kwargs) -> httpx.Response:
        return httpx.post(
            f"{self.base}{path}", headers={**(bearer(key) if key else {}), **(headers or {})}, timeout=20, **kwargs
        )

    def delete(self, path: str, key: str | None = None) -> httpx.Response:
        return httpx.delete(f"{self.base}{path}", headers=bearer(key) if key else {}, timeout=20)


@contextmanager
def private_api(work_dir: Path, **extra_env: str) -> Iterator[PrivateApi]:
    server = EmbeddedRedis(work_dir / "redis").start()
    data = work_dir / "data"
    data.mkdir(exist_ok=True)
    env = base_env(server.url, data, TEST_CATALOG, **extra_env)
    api = None
    try:
        api, base = start_api(env, free_port(), work_dir)
        yield PrivateApi(base, env, Redis.from_url(server.url))
    finally:
        if api is not None:
            api.stop()
        server.stop()
