"""Redis connections with short timeouts, so an outage becomes a quick 503, not a hang.

With `T2V_REDIS_SENTINELS` the sentinels say which server is the primary: redis-py's Sentinel
client asks them on every new connection, so after a failover the API, the workers (RQ included:
it only ever sees the returned client) and the sweep reconnect to the promoted replica by
themselves. A connection still open to a demoted primary gets a READONLY error, which redis-py
turns into a reconnect.

The API also keeps an asyncio client per event loop (`AsyncClients`) for what its event loop
sends itself (a create's one round trip), and `no_blocking_calls` lets the loop try work that
usually needs no Redis at all (answers cached for a second) and hand it to a thread when it does.
"""

import asyncio
import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import unquote, urlsplit

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.connection import Connection as AsyncConnection
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.connection import HiredisRespSerializer
from redis.sentinel import Sentinel
from redis.utils import HIREDIS_AVAILABLE

from app.redis_address import DEFAULT_URL, redis_url
from app.settings import Settings


# Every command may wait this long; the sentinels get the same short leash.
TIMEOUTS = {"socket_connect_timeout": 2, "socket_timeout": 5}


class BlockingCall(Exception):
    """A blocking Redis call inside `no_blocking_calls()`: the work belongs in a thread."""


_refuse_blocking = ContextVar("refuse_blocking_redis_calls", default=False)


@contextmanager
def no_blocking_calls():
    """Inside, a `GuardedRedis` raises BlockingCall instead of waiting on Redis (this task only)."""
    token = _refuse_blocking.set(True)
    try:
        yield
    finally:
        _refuse_blocking.reset(token)


class GuardedRedis(Redis):
    """The blocking client, refusing to block where `no_blocking_calls` says the event loop runs.
    Every command, script and pipeline passes through one of these two methods."""

    def execute_command(self, *args, **options):
        if _refuse_blocking.get():
            raise BlockingCall(args[0])
        return super().execute_command(*args, **options)

    def pipeline(self, transaction=True, shard_hint=None):
        if _refuse_blocking.get():
            raise BlockingCall("pipeline")
        return super().pipeline(transaction, shard_hint)


def connect(settings: Settings) -> Redis:
    if settings.redis_sentinels:
        return _primary_via_sentinels(settings)
    return GuardedRedis.from_url(redis_url(settings), health_check_interval=15, **TIMEOUTS)


def connect_async(settings: Settings) -> AsyncRedis:
    """The asyncio twin of `connect` (same server, timeouts and sentinels)."""
    if settings.redis_sentinels:
        database, credentials = _database_and_credentials(settings)
        sentinel = AsyncSentinel(
            sentinel_addresses(settings.redis_sentinels), sentinel_kwargs=dict(TIMEOUTS), **TIMEOUTS
        )
        return sentinel.master_for(
            settings.redis_sentinel_service, db=database, health_check_interval=15, **credentials, **TIMEOUTS
        )
    url = redis_url(settings)
    if HIREDIS_AVAILABLE and url.startswith("redis://"):  # (rediss:// picks its TLS class itself)
        return AsyncRedis.from_url(url, health_check_interval=15, connection_class=_CPacking, **TIMEOUTS)
    return AsyncRedis.from_url(url, health_check_interval=15, **TIMEOUTS)


class _CPacking(AsyncConnection):
    """Packs commands with hiredis, as the blocking client does (redis-py's asyncio one packs in
    Python: a create's one command has ~60 words)."""

    _packer = HiredisRespSerializer() if HIREDIS_AVAILABLE else None

    def pack_command(self, *args):
        return self._packer.pack(*args)


class AsyncClients:
    """One asyncio client per event loop: a client's connections belong to the loop that made them
    (uvicorn runs one loop per process; a test client may start several)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._by_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def current(self) -> AsyncRedis:
        loop = asyncio.get_running_loop()
        client = self._by_loop.get(loop)
        if client is None:
            client = self._by_loop[loop] = connect_async(self.settings)
        return client


def sentinel_addresses(text: str) -> list[tuple[str, int]]:
    """`host:port,host:port` (IPv6 as `[::1]:26379`) as (host, port) pairs."""
    addresses = []
    for item in text.replace(" ", ",").split(","):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"T2V_REDIS_SENTINELS: {item!r} is not host:port")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def _database_and_credentials(settings: Settings) -> tuple[int, dict]:
    # Only the credentials and the database number of T2V_REDIS_URL apply; its host is the
    # sentinels' to choose.
    url = urlsplit(settings.redis_url or DEFAULT_URL)
    credentials = {
        "username": unquote(url.username) if url.username else None,
        "password": unquote(url.password) if url.password else None,
    }
    return int(url.path.strip("/") or 0), credentials


def _primary_via_sentinels(settings: Settings) -> Redis:
    database, credentials = _database_and_credentials(settings)
    sentinel = Sentinel(sentinel_addresses(settings.redis_sentinels), sentinel_kwargs=dict(TIMEOUTS), **TIMEOUTS)
    return sentinel.master_for(
        settings.redis_sentinel_service,
        redis_class=GuardedRedis,
        db=database,
        health_check_interval=15,
        **credentials,
        **TIMEOUTS,
    )
