"""Open event streams per tenant, shared by every API replica: at most
`T2V_MAX_STREAMS_PER_TENANT` at once.

Each open stream holds a lease in a sorted set per tenant (`t2v:streams:<tenant>`, scored by when
the lease runs out). The stream renews it while it runs and removes it when it ends; a replica
that dies without removing its leases loses them when they run out, so a crash can't lock a
tenant out for longer than one lease.
"""

import secrets
import time

from redis.asyncio import Redis

from app.errors import RateLimited


LEASE_S = 60
# A stream renews its lease once this much of it has passed.
RENEW_AFTER_S = LEASE_S / 3

# KEYS[1] leases; ARGV[1] now (ms), ARGV[2] lease end (ms), ARGV[3] this stream, ARGV[4] limit
# (0: none), ARGV[5] expiry of the whole set (s). Returns 1 when the stream may open.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local limit = tonumber(ARGV[4])
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def leases_key(tenant: str) -> str:
    return f"t2v:streams:{tenant}"


class StreamSlot:
    def __init__(self, redis: Redis, tenant: str):
        self.redis = redis
        self.key = leases_key(tenant)
        self.token = secrets.token_hex(8)
        self.renewed_at = 0.0

    async def acquire(self, limit: int) -> None:
        """Take a slot, or raise RateLimited when the tenant has `limit` streams open."""
        now = time.time()
        script = self.redis.register_script(_ACQUIRE)
        taken = await script(
            keys=[self.key], args=[int(now * 1000), int((now + LEASE_S) * 1000), self.token, limit, 2 * LEASE_S]
        )
        if not taken:
            raise RateLimited(
                f"Too many open event streams: the limit is {limit} per API key. Close one first.",
                retry_after_s=RENEW_AFTER_S,
                code="too_many_streams",
            )
        self.renewed_at = now

    async def renew(self) -> None:
        now = time.time()
        if now - self.renewed_at < RENEW_AFTER_S:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.key, {self.token: int((now + LEASE_S) * 1000)}, xx=True)
            pipe.expire(self.key, 2 * LEASE_S)
            await pipe.execute()
        self.renewed_at = now

    async def release(self) -> None:
        await self.redis.zrem(self.key, self.token)
