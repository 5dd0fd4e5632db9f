"""The `progress` event of a denoising step: chunk i of n, step k of m, percent and ETA.

The ETA comes from the measured step time (a moving average, so a slow first step or a swap does
not dominate it) times the steps left. The worker makes one of these per render.
"""

import time

from app.events import stream


# Weight of the newest step in the moving average of the step time.
STEP_TIME_WEIGHT = 0.3


class StepClock:
    """Turns `on_step(done, total)` calls into progress events.

    A long video reports its steps over the whole plan (`total` = chunks x steps per chunk); with
    `steps_per_chunk` known, that splits back into chunk i of n and step k of m.
    """

    def __init__(self, steps_per_chunk: int, clock=time.perf_counter):
        self.steps_per_chunk = max(1, int(steps_per_chunk))
        self.clock = clock
        self.last_at: float | None = None
        self.step_s: float | None = None

    def step(self, done: int, total: int, percent: int) -> list:
        now = self.clock()
        if self.last_at is not None:
            # The first interval includes text encoding and set-up: only later ones are step times.
            took = now - self.last_at
            self.step_s = (
                took if self.step_s is None else STEP_TIME_WEIGHT * took + (1 - STEP_TIME_WEIGHT) * self.step_s
            )
        self.last_at = now
        per_chunk = self.steps_per_chunk if total % self.steps_per_chunk == 0 else total
        chunks = total // per_chunk
        chunk = min(chunks, (done - 1) // per_chunk + 1)
        data = {
            "phase": "denoising" if done < total else "decoding",
            "chunk": chunk,
            "chunks": chunks,
            "step": done - (chunk - 1) * per_chunk,
            "steps": per_chunk,
            "percent": percent,
            "step_s": None if self.step_s is None else round(self.step_s, 4),
            "eta_s": None if self.step_s is None else round(self.step_s * (total - done), 2),
        }
        return stream.encode(stream.PROGRESS, data)
