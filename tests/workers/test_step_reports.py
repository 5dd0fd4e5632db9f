"""A render's step reports that do not wait for their answers (workers/step_reports.py)."""

from app.commit import CommandList, commit
from app.records import RecordStore, new_video_id
from app.status import VideoStatus
from workers.step_reports import StepReports


def _video_in_progress(store: RecordStore, redis) -> str:
    video_id = new_video_id()
    writes = CommandList()
    store.create(
        {"id": video_id, "owner": "reports", "created_at_ms": 1, "status": "in_progress", "progress": 0}, writes
    )
    writes.lpos("t2v:no-such-queue", video_id)
    commit(redis, "reports", 0, writes)
    return video_id


def test_reports_land_in_order_and_a_cancel_is_seen_within_two_steps(redis):
    store = RecordStore(redis)
    video_id = _video_in_progress(store, redis)
    reports = StepReports(redis, store, video_id)
    assert reports.send(10, [["progress", '{"step":1}']])
    assert reports.send(20, [["progress", '{"step":2}']])
    store.transition(video_id, {"status": VideoStatus.CANCELLED.value})
    # The answer read now is the one to step 2's report, sent before the cancel.
    assert reports.send(30, [["progress", '{"step":3}']])
    assert not reports.send(40, [["progress", '{"step":4}']])
    assert not reports.close()
    # Reports after the cancel changed nothing; the ones before it all landed, in order.
    assert store.get(video_id)["progress"] == 20
    steps = [fields[b"data"] for _, fields in redis.xrange(f"t2v:events:{video_id}") if fields[b"type"] == b"progress"]
    assert steps == [b'{"step":1}', b'{"step":2}']


def test_the_last_answer_is_read_when_the_render_ends(redis):
    store = RecordStore(redis)
    video_id = _video_in_progress(store, redis)
    reports = StepReports(redis, store, video_id)
    assert reports.send(50, [])
    assert reports.close()
    assert store.get(video_id)["progress"] == 50
    assert reports.close()  # nothing left to read
