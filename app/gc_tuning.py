"""Garbage collection tuned for a request-serving process.

The API imports a large heap (FastAPI, pydantic, redis, rq, openai): a few hundred thousand
tracked objects that live as long as the process. CPython's oldest-generation collection walks
all of them, and under create load it ran every second for up to 0.2 s, a quarter of the API's
time and most of its p99 (bench/RESULTS.md). Freezing the heap as it stands once the app is
built moves those objects out of every later collection; a higher first threshold makes the
young collections, which a request's short-lived dicts and lists trigger, ten times rarer.
"""

import gc


# CPython's default is (700, 10, 10).
THRESHOLDS = (7000, 10, 10)


def freeze_startup_heap() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
