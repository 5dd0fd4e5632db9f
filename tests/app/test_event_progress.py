"""The `progress` event's arithmetic: chunk i of n and step k of m from the render's step count,
and an ETA from the measured step time."""

import json

from app.events.progress import StepClock


class Clock:
    def __init__(self, step_s: float):
        self.now, self.step_s = 0.0, step_s

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now


def progress(clock: StepClock, done: int, total: int) -> dict:
    kind, data = clock.step(done, total, done * 90 // total)
    assert kind == "progress"
    return json.loads(data)


def test_a_long_video_reports_chunk_and_step_and_counts_down():
    clock = StepClock(steps_per_chunk=4, clock=Clock(0.5))
    events = [progress(clock, done, 12) for done in range(1, 13)]
    assert [(e["chunk"], e["step"]) for e in events] == [(c, s) for c in (1, 2, 3) for s in (1, 2, 3, 4)]
    assert {(e["chunks"], e["steps"]) for e in events} == {(3, 4)}
    assert events[0]["eta_s"] is None
    assert [e["eta_s"] for e in events[1:]] == [0.5 * (12 - done) for done in range(2, 13)]
    assert [e["phase"] for e in events].count("decoding") == 1 and events[-1]["phase"] == "decoding"


def test_steps_that_do_not_split_into_chunks_are_one_chunk():
    # A remix keeps only some of the steps: the total is not a multiple of the requested steps.
    clock = StepClock(steps_per_chunk=10, clock=Clock(1.0))
    last = [progress(clock, done, 6) for done in range(1, 7)][-1]
    assert (last["chunk"], last["chunks"], last["step"], last["steps"]) == (1, 1, 6, 6)
