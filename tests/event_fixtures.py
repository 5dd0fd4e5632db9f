"""A render worker the event stream, studio and CLI tests share (one per session: CPU is scarce)."""

import httpx
import pytest

from tests.support import start_worker


RENDERED = "tiny-wan-events"
# Nobody serves this model: its videos stay queued and their streams stay open.
IDLE = "tiny-wan-events-idle"


@pytest.fixture(scope="session")
def events_worker(env, redis, tmp_path_factory):
    # Every few steps a preview, whatever they cost on this shared CPU.
    worker = start_worker(
        {**env, "T2V_PREVIEW_BUDGET_SHARE": "1"}, redis, tmp_path_factory.mktemp("events-worker"), [RENDERED]
    )
    yield worker
    worker.stop()


def create(base: str, model: str, **fields) -> dict:
    response = httpx.post(f"{base}/v1/videos", json={"prompt": "a red ball rolling left", "model": model, **fields})
    assert response.status_code == 200, response.text
    return response.json()
