"""What a worker process holds for its jobs: connections, stores and the resident models.

RQ imports job functions by name and calls them with JSON arguments only, so the resident
state they need lives here, set once when the worker starts.
"""

import threading
from dataclasses import dataclass, field

from redis import Redis

from app.records import RecordStore
from app.settings import Settings
from app.storage import Storage
from models.catalog import Catalog


@dataclass
class WorkerContext:
    name: str
    settings: Settings
    redis: Redis
    store: RecordStore
    storage: Storage
    catalog: Catalog
    # workers.runtime.ResidentModels for render workers; None for CPU-only (expand/notify) workers.
    models: object | None = None
    # The video this worker is rendering right now (announced with its liveness).
    current_video: str | None = None
    # The videos rendered together with it in one batch, itself included (workers/batching.py).
    batch: list[str] = field(default_factory=list)
    # How many videos the next batch may take (workers/batching.py `BatchRamp`).
    ramp: object | None = None
    # Set when the worker is asked to stop: a render hands its video back (workers/handback.py).
    stopping: threading.Event = field(default_factory=threading.Event)


_current: WorkerContext | None = None


def set_context(context: WorkerContext) -> None:
    global _current
    _current = context


def current() -> WorkerContext:
    if _current is None:
        raise RuntimeError("job functions run inside `t2v worker`, which sets the worker context first")
    return _current
