"""Nothing accepted is lost while workers and Redis are SIGKILLed at random."""

import pytest

from bench.soak import ChaosConfig, run_chaos


# 150 videos through 40 s of kills, then settling: about two minutes on 2 idle cores, longer on busy ones.
@pytest.mark.timeout(600)
def test_random_kills_lose_nothing_and_never_change_a_finished_video(tmp_path):
    report = run_chaos(ChaosConfig(videos=150, workers=3, seed=7, pause_s=(1.0, 2.5), chaos_s=40), tmp_path)
    print("\n".join(report.lines()))
    assert report.accepted == 150
    assert report.worker_kills >= 2 and report.redis_kills >= 1, "the run must really have been chaotic"
    assert report.lost == []
    assert report.changed_after_completion == []
    assert report.outcomes["completed"] + report.outcomes["failed"] == 150
    # Failures are allowed only as the clean outcome of repeated crashes, never unexplained.
    assert set(report.failures_by_code) <= {"worker_lost"}
