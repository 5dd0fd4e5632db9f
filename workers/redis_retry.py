"""Riding out a Redis restart in the middle of a job.

A render that finished on the GPU is worth waiting for Redis to come back: the alternative is
throwing the work away and rendering it again.
"""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import ConnectionError, TimeoutError


log = logging.getLogger(__name__)
T = TypeVar("T")


def until_redis_answers(action: Callable[[], T], budget_s: float, what: str) -> T:
    """Run `action`, retrying on connection failures for up to `budget_s` seconds."""
    deadline = time.monotonic() + budget_s
    delay = 0.2
    while True:
        try:
            return action()
        except (ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            log.warning("Redis unreachable while %s; retrying in %.1fs", what, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
