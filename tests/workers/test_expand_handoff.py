"""The expand stage against a real Redis: one transaction per hand-off, at most once, and a lost
expand job is queued again and then given up on (the video still renders)."""

import pytest

from app import videos_service
from app.expansion.handoff import LOST_OUTCOME, hand_off_to_render, requeue_expansion
from app.expansion.plan import prepare
from app.expansion.stats import EXPANSION_OUTCOMES
from app.queueing import (
    EXPAND_QUEUE,
    EXPAND_STAGE,
    RENDER_STAGE,
    expand_job_id,
    queue,
    render_job_id,
    render_queue_name,
)
from app.records import RecordStore
from app.schemas import CreateVideoRequest
from app.settings import Settings
from app.validation import resolve_request
from models.catalog import load_catalog
from tests.conftest import TEST_CATALOG
from tests.support import wait_until
from workers.sweep import _job_is_pending, _requeue_or_fail


# Nobody serves this model, so its render jobs stay where the tests can see them.
MODEL = "tiny-wan-expand-idle"


@pytest.fixture
def settings() -> Settings:
    return Settings(_env_file=None, llm_base_url="http://127.0.0.1:9/v1", max_render_attempts=2, catalog=TEST_CATALOG)


@pytest.fixture
def store(redis) -> RecordStore:
    return RecordStore(redis)


@pytest.fixture
def submitted(redis, store, settings):
    """Create videos the way the API does; delete them and their jobs afterwards."""
    catalog = load_catalog(TEST_CATALOG)
    created = []

    def submit(prompt: str = "a paper boat drifting down a rainy street") -> dict:
        request = CreateVideoRequest(prompt=prompt, model=MODEL)
        resolved = resolve_request(request, catalog, settings)
        record = videos_service.new_record("expand-tests", prompt, resolved, 7, settings)
        prepare(record, None, catalog[MODEL], settings)
        videos_service.submit(redis, store, record, settings)
        created.append(record["id"])
        return record

    yield submit
    for video_id in created:
        for name, job_id in [(EXPAND_QUEUE, expand_job_id(video_id, n)) for n in range(3)] + [
            (render_queue_name(MODEL), render_job_id(video_id, n)) for n in range(3)
        ]:
            queue(name, redis).remove(job_id)
        store.delete(video_id, "expand-tests")


def queued_ids(redis, name: str) -> list[str]:
    return queue(name, redis).get_job_ids()


def test_create_queues_the_expand_job_and_no_render(redis, store, submitted):
    record = submitted()
    stored = store.get(record["id"])
    assert stored["stage"] == EXPAND_STAGE and stored["prompt_expansion"] == "pending" and stored["status"] == "queued"
    assert expand_job_id(record["id"], 0) in queued_ids(redis, EXPAND_QUEUE)
    assert render_job_id(record["id"], 0) not in queued_ids(redis, render_queue_name(MODEL))
    assert _job_is_pending(redis, stored)


def test_hand_off_writes_the_prompt_and_queues_the_render_once(redis, store, settings, submitted):
    record = submitted()
    before = int(redis.hget(EXPANSION_OUTCOMES, "expanded") or 0)
    fields = {"revised_prompt": "a long caption", "prompt_expansion": "expanded"}
    assert hand_off_to_render(redis, record["id"], fields, settings)
    # A duplicate delivery of the expand job finds nothing left to do.
    assert not hand_off_to_render(redis, record["id"], {**fields, "revised_prompt": "another"}, settings)
    stored = store.get(record["id"])
    assert stored["revised_prompt"] == "a long caption" and stored["stage"] == RENDER_STAGE
    assert stored["status"] == "queued"
    assert queued_ids(redis, render_queue_name(MODEL)).count(render_job_id(record["id"], 0)) == 1
    assert int(redis.hget(EXPANSION_OUTCOMES, "expanded")) == before + 1
    assert _job_is_pending(redis, stored)


def test_a_cancelled_video_is_not_handed_to_render(redis, store, settings, submitted):
    record = submitted()
    videos_service.cancel(redis, store, store.get(record["id"]))
    # Cancelling drops the queued expand job as well.
    assert expand_job_id(record["id"], 0) not in queued_ids(redis, EXPAND_QUEUE)
    fields = {"revised_prompt": "x", "prompt_expansion": "expanded"}
    assert not hand_off_to_render(redis, record["id"], fields, settings)
    assert store.get(record["id"])["status"] == "cancelled"
    assert render_job_id(record["id"], 0) not in queued_ids(redis, render_queue_name(MODEL))


def test_a_lost_expand_job_is_queued_again_then_given_up_on(redis, store, settings, submitted):
    record = submitted("a lighthouse beam sweeping over a stormy sea")
    # Lose the job: the record is queued in its expand stage with nothing in the queue.
    queue(EXPAND_QUEUE, redis).remove(expand_job_id(record["id"], 0))
    stored = store.get(record["id"])
    assert not _job_is_pending(redis, stored)

    assert _requeue_or_fail(redis, store, stored, settings, "its job was lost") == "requeued"
    stored = store.get(record["id"])
    assert stored["stage"] == EXPAND_STAGE and stored["enqueues"] == 1
    assert expand_job_id(record["id"], 1) in queued_ids(redis, EXPAND_QUEUE)
    assert _job_is_pending(redis, stored)

    queue(EXPAND_QUEUE, redis).remove(expand_job_id(record["id"], 1))
    assert _requeue_or_fail(redis, store, stored, settings, "its job was lost") == "requeued"
    stored = store.get(record["id"])
    # Expansion is best effort: the video goes on to render from the user's own prompt.
    assert stored["stage"] == RENDER_STAGE and stored["prompt_expansion"] == LOST_OUTCOME
    assert stored["revised_prompt"] == record["prompt"] and stored["status"] == "queued"
    assert render_job_id(record["id"], 1) in queued_ids(redis, render_queue_name(MODEL))
    assert _job_is_pending(redis, stored)


def test_a_stale_sweep_decision_changes_nothing(redis, store, settings, submitted):
    record = submitted()
    snapshot = store.get(record["id"])
    assert hand_off_to_render(redis, record["id"], {"revised_prompt": "c", "prompt_expansion": "expanded"}, settings)
    # The sweep read the record before the hand-off; acting on that view must not queue anything.
    assert requeue_expansion(redis, snapshot, settings, "its job was lost") == "raced"
    assert store.get(record["id"])["enqueues"] == 0
    assert expand_job_id(record["id"], 1) not in queued_ids(redis, EXPAND_QUEUE)


def test_the_expand_job_runs_by_name_with_a_timeout_for_every_attempt(redis, submitted, settings):
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from app.expansion.plan import expand_job_timeout_s

    record = submitted()
    job = Job.fetch(expand_job_id(record["id"], 0), connection=redis, serializer=JSONSerializer)
    assert job.timeout == expand_job_timeout_s(settings)
    assert job.func_name == "workers.expand.expand_prompt" and job.args == [record["id"]]


def test_a_video_waiting_for_an_absent_expander_says_so(redis):
    from app.expansion.plan import warn_without_expander
    from app.liveness import announce, retire

    waiting = {"stage": EXPAND_STAGE, "warning": "no live worker serves model 'm' yet"}
    warn_without_expander(waiting, redis)
    assert waiting["warning"].startswith("no live worker serves model 'm' yet; no live worker serves the expand")

    announce(redis, "expand-tests-expander", {"queues": [EXPAND_QUEUE]}, 30)
    try:
        # Live workers are remembered for a second per process (app/recent.py): the expander that
        # just started is seen once that answer ages.
        def served_warning():
            served = {"stage": EXPAND_STAGE, "warning": None}
            warn_without_expander(served, redis)
            return served["warning"]

        wait_until(lambda: served_warning() is None, timeout_s=5, what="the new expander to be seen")
    finally:
        retire(redis, "expand-tests-expander")
