"""Histograms kept in Redis, so that worker processes on other hosts feed the API's /metrics.

Each histogram is one hash: `<label>|count`, `<label>|sum` and `<label>|<bucket>` fields,
incremented atomically by whoever observes a value.
"""

from redis import Redis
from redis.client import Pipeline


PHASE_SECONDS = "t2v:metrics:hist:phase_seconds"
STEP_SECONDS = "t2v:metrics:hist:step_seconds"

# Render phases span milliseconds (tiny models) to many minutes (large ones on small GPUs).
PHASE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
STEP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def observe(
    target: Redis | Pipeline, key: str, label: str, value: float, buckets: tuple[float, ...], count: int = 1
) -> None:
    """Record `count` observations of `value` (count > 1: a batch of equal-cost steps)."""
    target.hincrby(key, f"{label}|count", count)
    target.hincrbyfloat(key, f"{label}|sum", value * count)
    for bound in buckets:
        if value <= bound:
            target.hincrby(key, f"{label}|{bound}", count)


def read_histograms(redis: Redis, key: str, buckets: tuple[float, ...]) -> dict[str, dict]:
    """{label: {"count", "sum", "buckets": [(bound, cumulative count), ...]}}."""
    raw = {k.decode(): v.decode() for k, v in redis.hgetall(key).items()}
    labels = {field.split("|", 1)[0] for field in raw}
    result = {}
    for label in sorted(labels):
        count = int(raw.get(f"{label}|count", 0))
        result[label] = {
            "count": count,
            "sum": float(raw.get(f"{label}|sum", 0.0)),
            "buckets": [(str(b), int(raw.get(f"{label}|{b}", 0))) for b in buckets] + [("+Inf", count)],
        }
    return result
