"""Redis connections with short timeouts, so an outage becomes a quick 503, not a hang.

With `T2V_REDIS_SENTINELS` the sentinels say which server is the primary: redis-py's Sentinel
client asks them on every new connection, so after a failover the API, the workers (RQ included:
it only ever sees the returned client) and the sweep reconnect to the promoted replica by
themselves. A connection still open to a demoted primary gets a READONLY error, which redis-py
turns into a reconnect.
"""

from urllib.parse import unquote, urlsplit

from redis import Redis
from redis.sentinel import Sentinel

from app.redis_address import DEFAULT_URL, redis_url
from app.settings import Settings


# Every command may wait this long; the sentinels get the same short leash.
TIMEOUTS = {"socket_connect_timeout": 2, "socket_timeout": 5}


def connect(settings: Settings) -> Redis:
    if settings.redis_sentinels:
        return _primary_via_sentinels(settings)
    return Redis.from_url(redis_url(settings), health_check_interval=15, **TIMEOUTS)


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


def _primary_via_sentinels(settings: Settings) -> Redis:
    # Only the credentials and the database number of T2V_REDIS_URL apply; its host is the
    # sentinels' to choose.
    url = urlsplit(settings.redis_url or DEFAULT_URL)
    database = int(url.path.strip("/") or 0)
    credentials = {
        "username": unquote(url.username) if url.username else None,
        "password": unquote(url.password) if url.password else None,
    }
    sentinel = Sentinel(sentinel_addresses(settings.redis_sentinels), sentinel_kwargs=dict(TIMEOUTS), **TIMEOUTS)
    return sentinel.master_for(
        settings.redis_sentinel_service, db=database, health_check_interval=15, **credentials, **TIMEOUTS
    )
