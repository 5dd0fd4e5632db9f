"""A stopping worker gives its unfinished render back to the queue instead of finishing it.

Stopping (`t2v up`'s Ctrl-C, a deploy's SIGTERM) should take seconds, not the rest of a video.
The render stops at its next denoising step; the record goes back from `in_progress` to `queued`
by the same conditional transition the sweep uses (only while this worker still holds it), and a
fresh job is queued for it, so the next worker serving the model renders it from the start (a
long video from its last finished chunk). A hand-back is no lost attempt: its claim is not
counted, so restarting a stack never uses up a video's `max_render_attempts`.
"""

import logging
import time

from app.queueing import enqueue_render
from app.status import VideoStatus
from workers.context import WorkerContext


log = logging.getLogger(__name__)


class WorkerStopping(Exception):
    """The worker was asked to stop while it rendered this video."""


def hand_back(ctx: WorkerContext, record: dict) -> str:
    enqueues = record.get("enqueues", 0) + 1
    changed = ctx.store.transition(
        record["id"],
        {
            "status": VideoStatus.QUEUED.value,
            "worker": None,
            "progress": 0,
            "attempts": max(0, record.get("attempts", 1) - 1),
            "enqueues": enqueues,
            "enqueued_at": time.time(),
        },
        allowed_from=[VideoStatus.IN_PROGRESS],
        worker=ctx.name,
    )
    if changed is None:
        # Cancelled or deleted meanwhile: nothing to give back.
        return "cancelled"
    settings = ctx.settings
    enqueue_render(
        ctx.redis,
        {**record, "enqueues": enqueues},
        timeout_s=settings.job_timeout_s,
        result_ttl_s=settings.job_result_ttl_s,
    )
    log.warning("worker stopping: %s handed back to the queue", record["id"])
    return "handed back"
