"""Putting work on RQ queues by job name: the API never imports worker code."""

from redis import Redis
from redis.client import Pipeline
from rq import Queue
from rq.serializers import JSONSerializer

RENDER_JOB = "workers.render.render_video"


def render_queue_name(model: str) -> str:
    return f"render:{model}"


def queue(name: str, redis: Redis) -> Queue:
    # JSON, never pickle: whoever can write to Redis must not be able to run code in workers.
    return Queue(name, connection=redis, serializer=JSONSerializer)


def render_job_id(video_id: str, attempt: int) -> str:
    return f"render-{video_id}-{attempt}"


def enqueue_render(redis: Redis, record: dict, *, timeout_s: int, result_ttl_s: int, pipe: Pipeline | None = None):
    """Queue one render of `record`; the job id names the attempt so retries are distinct jobs."""
    render_queue = queue(render_queue_name(record["model"]), redis)
    data = Queue.prepare_data(
        RENDER_JOB,
        args=[record["id"]],
        timeout=timeout_s,
        result_ttl=result_ttl_s,
        failure_ttl=result_ttl_s,
        job_id=render_job_id(record["id"], record.get("enqueues", 0)),
        description=f"render {record['id']}",
    )
    return render_queue.enqueue_many([data], pipeline=pipe)[0]
