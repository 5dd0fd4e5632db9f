"""Redis connections with short timeouts, so an outage becomes a quick 503, not a hang."""

from redis import Redis

from app.settings import Settings


DEFAULT_URL = "redis://127.0.0.1:6379/0"


def connect(settings: Settings) -> Redis:
    return Redis.from_url(
        settings.redis_url or DEFAULT_URL,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=15,
    )
