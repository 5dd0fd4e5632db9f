"""Where a queued video's job stands in its RQ queue: position 1 is the next job a worker takes.

Computed when a video is read (LPOS on the queue's list), never stored: it changes with every job
a worker takes. A job a worker has just popped, or one that is deferred, has no position (null).
"""

from redis import Redis
from rq import Queue

from app.queueing import current_job
from app.status import VideoStatus


def _queue_key(record: dict) -> tuple[str, str]:
    job_id, queue_name = current_job(record)
    return Queue.redis_queue_namespace_prefix + queue_name, job_id


def position_from(index: int | None) -> int | None:
    # RQ pushes on the right and workers pop from the left.
    return None if index is None else index + 1


def look_up_position(pipe, record: dict) -> None:
    """Add the lookup of `record`'s queue position to `pipe` (after its job is pushed), so a
    create learns it in its own round trip; `position_from` reads the answer."""
    pipe.lpos(*_queue_key(record))


def add_queue_positions(redis: Redis, records: list[dict]) -> list[dict]:
    """Set `queue_position` on each record (None unless it is queued); returns `records`."""
    queued = [r for r in records if r.get("status") == VideoStatus.QUEUED.value]
    for record in records:
        record["queue_position"] = None
    if not queued:
        return records
    with redis.pipeline(transaction=False) as pipe:
        for record in queued:
            pipe.lpos(*_queue_key(record))
        indexes = pipe.execute()
    for record, index in zip(queued, indexes, strict=False):
        record["queue_position"] = position_from(index)
    return records
