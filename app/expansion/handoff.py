"""Writes to a video in its expand stage: hand it to the render stage, or queue its expansion again.

Each write and the job it queues commit in one transaction, and only while the video is still
queued in its expand stage (WATCH on the record): a cancelled, deleted or already handed-off
video gets nothing, so a duplicate expand job or a racing sweep is harmless.
"""

import json
import logging
import time
from collections.abc import Callable

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import WatchError

from app.events import stream as events
from app.expansion.plan import expand_job_timeout_s
from app.expansion.stats import count_outcome
from app.queueing import EXPAND_STAGE, RENDER_STAGE, enqueue_expand, enqueue_render
from app.records import record_key
from app.settings import Settings
from app.status import VideoStatus


log = logging.getLogger(__name__)
LOST_OUTCOME = "fallback: expand_lost"

# Queues one transaction's writes for a record; returns what it decided.
Writer = Callable[[Pipeline, dict], str]


def _while_expanding(redis: Redis, video_id: str, write: Writer) -> str | None:
    """Run `write(pipe, record)` in a transaction if the video is queued in its expand stage.

    Returns what `write` returned, or None when the video had moved on.
    """
    key = record_key(video_id)
    with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key)
                record = {k.decode(): json.loads(v) for k, v in pipe.hgetall(key).items()}
                if record.get("status") != VideoStatus.QUEUED.value or record.get("stage") != EXPAND_STAGE:
                    pipe.unwatch()
                    return None
                pipe.multi()
                decided = write(pipe, record)
                pipe.execute()
                return decided
            except WatchError:
                continue  # the record changed under us (cancelled, swept, handed off): look again


def _set(pipe: Pipeline, video_id: str, fields: dict) -> None:
    pipe.hset(record_key(video_id), mapping={name: json.dumps(value) for name, value in fields.items()})


def _queue_render(redis: Redis, pipe: Pipeline, record: dict, fields: dict, settings: Settings) -> str:
    # The render's queue time starts now; the expansion has its own timing.
    _set(pipe, record["id"], {**fields, "stage": RENDER_STAGE, "enqueued_at": time.time()})
    events.append(pipe, record["id"], events.EXPANDING, events.expansion_data(fields))
    enqueue_render(redis, record, timeout_s=settings.job_timeout_s, result_ttl_s=settings.job_result_ttl_s, pipe=pipe)
    count_outcome(pipe, fields["prompt_expansion"])
    return "render"


def hand_off_to_render(redis: Redis, video_id: str, fields: dict, settings: Settings) -> bool:
    """Write `fields` (revised_prompt, prompt_expansion, ...) and queue the render; False if too late."""

    def write(pipe: Pipeline, record: dict) -> str:
        return _queue_render(redis, pipe, record, fields, settings)

    return _while_expanding(redis, video_id, write) is not None


def requeue_expansion(redis: Redis, record: dict, settings: Settings, why: str) -> str:
    """The sweep's move for a video whose expand job was lost: expand again, or render without.

    Expansion is best effort, so repeated losses never fail the video: once it has had
    `max_render_attempts` expand jobs it renders from the user's prompt, saying why.
    """

    def write(pipe: Pipeline, current: dict) -> str:
        enqueues = current.get("enqueues", 0) + 1
        if enqueues >= settings.max_render_attempts:
            fields = {"revised_prompt": current["prompt"], "prompt_expansion": LOST_OUTCOME}
            return _queue_render(redis, pipe, current, fields, settings)
        _set(pipe, current["id"], {"enqueues": enqueues, "enqueued_at": time.time()})
        enqueue_expand(
            redis,
            {**current, "enqueues": enqueues},
            timeout_s=expand_job_timeout_s(settings),
            result_ttl_s=settings.job_result_ttl_s,
            pipe=pipe,
        )
        return "expand"

    decided = _while_expanding(redis, record["id"], write)
    if decided is None:
        return "raced"
    log.warning("%s %s again (%s)", "rendering" if decided == "render" else "expanding", record["id"], why)
    return "requeued"
