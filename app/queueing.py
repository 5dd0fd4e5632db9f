"""Putting work on RQ queues by job name: the API never imports worker code."""

import json
import re
import zlib

from redis import Redis
from redis.client import Pipeline
from rq import Queue
from rq.serializers import JSONSerializer
from rq.utils import now as rq_now
from rq.utils import utcformat

from app.commit import CommandList


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


def render_job_id(video_id: str, attempt: int) -> str:
    return f"render-{video_id}-{attempt}"


# Stand-ins for the ids in a recorded job (`_JobTemplate`); RQ accepts them as a job id and argument.
_STAND_IN_JOB = "standinjob"
_STAND_IN_VIDEO = "standinvideo"
# RQ's timestamps (`rq.utils.utcformat`): a replayed job gets the time it is written instead.
RQ_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class _JobTemplate:
    """RQ's own writes for one job (queue set, job hash, status, push), recorded once per queue,
    function, description and timeouts with stand-in ids and replayed per job with its own ids,
    payload and time: the same words RQ writes (tests/app/test_create_throughput.py compares
    them), without building an RQ Job, which cost as much as the rest of a create."""

    def __init__(self, commands: list[tuple]):
        self.commands = commands
        self.payloads = {
            word: zlib.decompress(word) for command in commands for word in command if isinstance(word, bytes)
        }

    def replay(self, pipe, job_id: str, video_id: str) -> None:
        now = utcformat(rq_now())
        stand_in_arg, video_arg = json.dumps(_STAND_IN_VIDEO).encode(), json.dumps(video_id).encode()
        for command in self.commands:
            words = []
            for word in command:
                if isinstance(word, bytes):  # the serialized call: `[function, null, [video id], {}]`
                    word = zlib.compress(self.payloads[word].replace(stand_in_arg, video_arg))
                elif isinstance(word, str) and RQ_TIME.match(word):
                    word = now
                elif isinstance(word, str):
                    word = word.replace(_STAND_IN_JOB, job_id).replace(_STAND_IN_VIDEO, video_id)
                words.append(word)
            pipe.execute_command(*words)


# (queue, function, description, timeout, result ttl) -> its template: a handful per process.
_templates: dict[tuple, _JobTemplate] = {}


def _job_template(redis: Redis, *key) -> _JobTemplate:
    """The template for `key`; the first use per key lends RQ `redis` (it reads the server's version)."""
    template = _templates.get(key)
    if template is None:
        template = _templates[key] = _record_job(redis, *key)
    return template


def _record_job(redis: Redis, queue_name: str, job_name: str, description: str, timeout_s: int, result_ttl_s: int):
    data = Queue.prepare_data(
        job_name,
        args=[_STAND_IN_VIDEO],
        timeout=timeout_s,
        result_ttl=result_ttl_s,
        failure_ttl=result_ttl_s,
        job_id=_STAND_IN_JOB,
        description=description,
    )
    recorded = CommandList()
    queue(queue_name, redis).enqueue_many([data], pipeline=recorded)
    return _JobTemplate(recorded.commands)


def _enqueue(
    redis: Redis,
    queue_name: str,
    job_name: str,
    job_id: str,
    video_id: str,
    description: str,
    timeout_s: int,
    result_ttl_s: int,
    pipe: Pipeline | CommandList | None,
) -> None:
    template = _job_template(
        redis, queue_name, job_name, description.replace(video_id, _STAND_IN_VIDEO), timeout_s, result_ttl_s
    )
    if pipe is not None:
        template.replay(pipe, job_id, video_id)
        return
    with redis.pipeline(transaction=True) as own:
        template.replay(own, job_id, video_id)
        own.execute()


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
