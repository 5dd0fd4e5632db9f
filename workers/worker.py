"""`t2v worker`: an RQ worker that keeps its pipelines resident and runs jobs in-process.

RQ's forking worker would reload the model per job (and CUDA can't fork). Its SimpleWorker runs
jobs in-process but sends no heartbeats during a job; this worker adds a background thread that
keeps RQ's heartbeats and our liveness key fresh, and runs the reconciliation sweep.
"""

import logging
import os
import socket
import threading
import time
import uuid

from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.job import Job
from rq.queue import Queue
from rq.serializers import JSONSerializer

from app.liveness import announce, retire
from app.queueing import queue, render_queue_name
from app.records import RecordStore
from app.redis_conn import TIMEOUTS, connect
from app.settings import Settings
from app.storage import get_storage
from models.catalog import load_catalog
from workers.context import WorkerContext, current, set_context
from workers.sweep import sweep


log = logging.getLogger(__name__)
# Seconds one blocking pop on the queues waits for a job before the loop goes round again.
DEQUEUE_TIMEOUT_S = max(1, TIMEOUTS["socket_timeout"] - 2)


class ResidentWorker(SimpleWorker):
    """SimpleWorker that exposes the running job to the heartbeat thread."""

    active = None  # (job, execution) while a job runs
    heartbeat_grace_s = 60
    # RQ backs off up to a minute between reconnects; a restarted Redis should see us sooner.
    max_connection_wait_time = 5.0

    def execute_job(self, job: Job, queue: Queue):
        try:
            execution = self.prepare_execution(job)
            self.active = (job, execution)
            try:
                self.perform_job(job, queue, execution)
            finally:
                self.active = None
            self.set_state("idle")
        except RedisError:
            # Redis went away around the job's bookkeeping. The video record is the truth and the
            # sweep reconciles it; the worker itself must live on to take the next job.
            log.warning("lost Redis while booking job %s; the sweep will reconcile it", job.id, exc_info=True)

    def handle_warm_shutdown_request(self):
        # SIGINT/SIGTERM: RQ would wait for the running job to end; a render instead stops at its
        # next denoising step and hands its video back to the queue (workers/handback.py).
        current().stopping.set()
        super().handle_warm_shutdown_request()

    # RQ blocks on the queues for its worker TTL less 15 s (minutes) and raises the shared client's
    # socket timeout to match. Our client's timeouts are short (app/redis_conn.py), so an idle
    # worker's pop timed out every few seconds, logged an error and backed off, with a new job
    # waiting out the back-off. A pop shorter than the socket timeout keeps both as they should be.
    @property
    def dequeue_timeout(self) -> int:
        return DEQUEUE_TIMEOUT_S

    @property
    def connection_timeout(self) -> int:
        return TIMEOUTS["socket_timeout"]

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # Short TTLs (renewed by the heartbeat thread) so RQ notices a dead worker in about a minute,
        # instead of SimpleWorker's job-timeout-long ones.
        return self.job_monitoring_interval + self.heartbeat_grace_s


class Heartbeat(threading.Thread):
    """Keeps this worker visibly alive (ours and RQ's heartbeats) and runs the sweep."""

    def __init__(self, context: WorkerContext, description: dict):
        super().__init__(name="t2v-heartbeat", daemon=True)
        self.context, self.description = context, description
        self.worker: ResidentWorker | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        settings = self.context.settings
        next_rq_beat = next_sweep = 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            try:
                # The sweep compares `current_video` with in-progress records to find orphans.
                description = {
                    **self.description,
                    "current_video": self.context.current_video,
                    "batch": list(self.context.batch),
                }
                announce(self.context.redis, self.context.name, description, settings.worker_ttl_s)
                active = self.worker.active if self.worker else None
                if active and now >= next_rq_beat:
                    self.worker.maintain_heartbeats(*active)
                    next_rq_beat = now + self.worker.job_monitoring_interval
                if now >= next_sweep:
                    sweep(self.context, holder=self.context.name)
                    next_sweep = now + settings.sweep_interval_s
            except Exception:  # Redis down or restarting: keep beating, it comes back
                log.warning("heartbeat failed; retrying", exc_info=True)
            self.stopping.wait(settings.worker_heartbeat_s)


def worker_name() -> str:
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"


def _rq_worker(context: WorkerContext, queue_names: list[str]) -> ResidentWorker:
    settings = context.settings
    worker = ResidentWorker(
        [queue(q, context.redis) for q in queue_names],
        connection=context.redis,
        name=context.name,
        serializer=JSONSerializer,
        worker_ttl=settings.rq_worker_ttl_s,
        job_monitoring_interval=settings.rq_job_monitoring_interval_s,
        maintenance_interval=settings.rq_maintenance_interval_s,
    )
    worker.heartbeat_grace_s = settings.rq_heartbeat_grace_s
    return worker


def run_worker(settings: Settings, models: list[str], queues: list[str], burst: bool = False) -> None:
    catalog = load_catalog(settings.catalog)
    unknown = [m for m in models if m not in catalog]
    if unknown:
        raise SystemExit(f"unknown model(s) {', '.join(unknown)}; the catalog has: {', '.join(catalog.names())}")
    redis = connect(settings)
    context = WorkerContext(worker_name(), settings, redis, RecordStore(redis), get_storage(settings), catalog)
    if models:
        # Imported here so CPU-only workers (expand, notify) never load torch.
        from models.loader import ModelLoadError
        from workers.runtime import ResidentModels
        from workers.threads import set_torch_threads

        log.info("torch runs %d CPU threads", set_torch_threads(settings.torch_threads))

        try:
            context.models = ResidentModels(catalog, models, settings.data_dir, settings.resident_budget_mb)
        except ModelLoadError as exc:
            raise SystemExit(f"no model could be loaded: {exc}") from None
    set_context(context)
    queue_names = [render_queue_name(m) for m in models] + queues
    description = {
        "models": context.models.names if context.models else [],
        "failed_models": context.models.failed if context.models else {},
        "queues": queue_names,
        "pid": os.getpid(),
    }
    heartbeat = Heartbeat(context, description)
    heartbeat.start()
    try:
        while True:
            try:
                # RQ talks to Redis already while it builds its worker: that is inside the retry too.
                heartbeat.worker = _rq_worker(context, queue_names)
                log.info("worker %s serving %s", context.name, ", ".join(queue_names))
                # The scheduler (delayed retries) runs in a forked process: only CPU workers host it.
                heartbeat.worker.work(burst=burst, logging_level="INFO", with_scheduler=not models)
                break
            except RedisError:
                # Redis died under RQ's own bookkeeping. Models stay loaded; start a fresh RQ worker
                # under a new name (the old registration may have survived in the AOF).
                log.warning("Redis connection lost; restarting the RQ loop", exc_info=True)
                time.sleep(1)
                retire_quietly(redis, context.name)
                context.name = worker_name()
    finally:
        heartbeat.stopping.set()
        heartbeat.join(timeout=5)
        retire_quietly(redis, context.name)
        log.info("worker %s stopped", context.name)


def retire_quietly(redis, name: str) -> None:
    try:
        retire(redis, name)
    except RedisError:
        pass
