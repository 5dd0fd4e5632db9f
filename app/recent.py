"""Answers that change rarely, read from Redis at most once a second per process.

Whether any API key exists and which models have a live worker change a few times a day, yet
the create path asked Redis for both on every request. A second-old answer is as good: a key
made now is required from the next second on, a worker that just started is seen a second later.
"""

import threading
import time
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from redis import Redis


T = TypeVar("T")
MAX_AGE_S = 1.0


class Recent(Generic[T]):
    """`read(redis)`, remembered per Redis client for `max_age_s` seconds."""

    def __init__(self, read: Callable[[Redis], T], max_age_s: float = MAX_AGE_S):
        self.read, self.max_age_s = read, max_age_s
        self._answers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def known(self, redis: Redis) -> tuple[bool, T | None]:
        """(True, answer) when a young enough answer is remembered, else (False, None): no I/O."""
        with self._lock:
            entry = self._answers.get(redis)
        if entry is None or time.monotonic() - entry[0] >= self.max_age_s:
            return False, None
        return True, entry[1]

    def forget(self, redis: Redis) -> None:
        """Drop the remembered answer: this process just changed what it reads."""
        with self._lock:
            self._answers.pop(redis, None)

    def __call__(self, redis: Redis) -> T:
        hit, answer = self.known(redis)
        if hit:
            return answer
        answer = self.read(redis)
        with self._lock:
            self._answers[redis] = (time.monotonic(), answer)
        return answer
