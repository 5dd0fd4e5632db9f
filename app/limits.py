"""Per-tenant limits: requests per minute, and unfinished videos at once.

Requests are counted in fixed one-minute windows (`t2v:ratelimit:<tenant>:<minute>`, one INCR per
request), which every API replica shares. A burst across a window's edge can get up to twice the
limit through within a few seconds; the limit is about sustained load, not exact spacing.

Both limits apply to API-key tenants. An open server (no keys) has one caller by design and is
only reachable from its own machine unless the operator said otherwise.
"""

import math
import time

from redis import Redis

from app.errors import RateLimited


WINDOW_S = 60
# One atomic command per request; the expiry (two windows, so clock skew between replicas can't
# count into a key that is already gone) is set once, by the window's first request.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
# A tenant at its video limit waits for a render to finish, which takes about this long or more.
ACTIVE_VIDEOS_RETRY_AFTER_S = 10


def rate_key(tenant: str, window: int) -> str:
    return f"t2v:ratelimit:{tenant}:{window}"


def check_request_rate(redis: Redis, tenant: str, per_minute: int) -> None:
    """Count one request of `tenant`; raise RateLimited when it is over `per_minute` (0: no limit)."""
    if per_minute <= 0:
        return
    now = time.time()
    window = int(now // WINDOW_S)
    count = redis.register_script(_COUNT)(keys=[rate_key(tenant, window)], args=[2 * WINDOW_S])
    if count > per_minute:
        raise RateLimited(
            f"Rate limit reached: {per_minute} requests per minute. Try again when the minute is over.",
            retry_after_s=math.ceil((window + 1) * WINDOW_S - now),
        )


def too_many_active_videos(active: int, limit: int) -> RateLimited:
    """The refusal of a new video while its tenant has `limit` unfinished ones (app/commit.py counts
    them in the same atomic call that would write the video)."""
    return RateLimited(
        f"Too many unfinished videos: {active} queued or in progress, the limit is {limit}. "
        "Wait for one to finish or cancel one.",
        retry_after_s=ACTIVE_VIDEOS_RETRY_AFTER_S,
        code="too_many_active_videos",
    )
