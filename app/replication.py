"""An accepted video must outlive the Redis primary: a replica acknowledges it before the 200.

Redis replicates asynchronously, so a primary that dies right after a write can take that write
with it, and a sentinel then promotes a replica that never saw it. `WAIT n timeout` blocks until
`n` replicas acknowledged every write made on its own connection; the create transaction ran on
a pooled connection, so a fence (one tiny write on the connection that waits) stands in for it:
the replication stream is ordered, so a replica that has the fence has the video too.
"""

import time

from redis import Redis
from redis.exceptions import RedisError

from app.settings import Settings


FENCE_KEY = "t2v:replication:fence"
# Without T2V_REDIS_MIN_REPLICAS, how long the primary's replica count is believed.
DETECT_TTL_S = 5.0
_detected = {"at": float("-inf"), "replicas": 0}


class NotReplicated(RedisError):
    """No replica acknowledged a write in time: only one machine holds it. (A RedisError, so the
    API answers it like any Redis outage: 503 with retry-after.)"""


def known_required_replicas(settings: Settings) -> int | None:
    """The replicas a write must reach, when that is known without asking Redis (else None)."""
    if settings.redis_min_replicas is not None:
        return settings.redis_min_replicas
    if settings.redis_sentinels:
        return 1
    if time.monotonic() - _detected["at"] > DETECT_TTL_S:
        return None
    return 1 if _detected["replicas"] else 0


def required_replicas(redis: Redis, settings: Settings) -> int:
    needed = known_required_replicas(settings)
    if needed is None:
        _detected["replicas"] = int(redis.info("replication").get("connected_slaves", 0))
        _detected["at"] = time.monotonic()
        needed = 1 if _detected["replicas"] else 0
    return needed


def wait_for_replicas(redis: Redis, settings: Settings) -> None:
    """Return once the writes made so far reached the replicas required; raise NotReplicated if
    they did not within `redis_replica_ack_timeout_ms`."""
    needed = required_replicas(redis, settings)
    if needed <= 0:
        return
    with redis.pipeline(transaction=False) as pipe:
        pipe.incr(FENCE_KEY)
        pipe.wait(needed, settings.redis_replica_ack_timeout_ms)
        _, acknowledged = pipe.execute()
    if acknowledged < needed:
        raise NotReplicated(
            f"{acknowledged} of {needed} Redis replicas acknowledged the write within "
            f"{settings.redis_replica_ack_timeout_ms} ms"
        )
