"""Putting work on RQ queues by job name: the API never imports worker code."""

from redis import Redis
from redis.client import Pipeline
from rq import Queue
from rq.serializers import JSONSerializer


RENDER_JOB = "workers.render.render_video"
EXPAND_JOB = "workers.expand.expand_prompt"
EXPAND_QUEUE = "expand"
# A queued video waits on one job at a time; its record's `stage` says which (absent: render).
EXPAND_STAGE = "expand"
RENDER_STAGE = "render"


def render_queue_name(model: str) -> str:
    return f"render:{model}"


def queue(name: str, redis: Redis) -> Queue:
    # JSON, never pickle: whoever can write to Redis must not be able to run code in workers.
    return Queue(name, connection=redis, serializer=JSONSerializer)


def _queue_for_enqueue(name: str, redis: Redis) -> Queue:
    # Kept on the client (as RQ keeps the server's version there): making an RQ Queue, with its
    # serializer checks, cost as much as the enqueue itself.
    queues = redis.__dict__.setdefault("_t2v_enqueue_queues", {})
    if name not in queues:
        queues[name] = queue(name, redis)
    return queues[name]


def render_job_id(video_id: str, attempt: int) -> str:
    return f"render-{video_id}-{attempt}"


def _enqueue(
    redis: Redis,
    queue_name: str,
    job_name: str,
    job_id: str,
    video_id: str,
    description: str,
    timeout_s: int,
    result_ttl_s: int,
    pipe: Pipeline | None,
):
    data = Queue.prepare_data(
        job_name,
        args=[video_id],
        timeout=timeout_s,
        result_ttl=result_ttl_s,
        failure_ttl=result_ttl_s,
        job_id=job_id,
        description=description,
    )
    return _queue_for_enqueue(queue_name, redis).enqueue_many([data], pipeline=pipe)[0]


def enqueue_render(redis: Redis, record: dict, *, timeout_s: int, result_ttl_s: int, pipe: Pipeline | None = None):
    """Queue one render of `record`; the job id names the attempt so retries are distinct jobs."""
    job_id = render_job_id(record["id"], record.get("enqueues", 0))
    return _enqueue(
        redis,
        render_queue_name(record["model"]),
        RENDER_JOB,
        job_id,
        record["id"],
        f"render {record['id']}",
        timeout_s,
        result_ttl_s,
        pipe,
    )


def expand_job_id(video_id: str, attempt: int) -> str:
    return f"expand-{video_id}-{attempt}"


def current_job(record: dict) -> tuple[str, str]:
    """The id and queue of the job a queued `record` is waiting on."""
    attempt = record.get("enqueues", 0)
    if record.get("stage") == EXPAND_STAGE:
        return expand_job_id(record["id"], attempt), EXPAND_QUEUE
    return render_job_id(record["id"], attempt), render_queue_name(record["model"])


def enqueue_expand(redis: Redis, record: dict, *, timeout_s: int, result_ttl_s: int, pipe: Pipeline | None = None):
    """Queue the prompt expansion of `record`; that job queues the render when it is done."""
    job_id = expand_job_id(record["id"], record.get("enqueues", 0))
    return _enqueue(
        redis,
        EXPAND_QUEUE,
        EXPAND_JOB,
        job_id,
        record["id"],
        f"expand the prompt of {record['id']}",
        timeout_s,
        result_ttl_s,
        pipe,
    )
