"""A render worker leaves a core to the API, Redis and its encoder unless told otherwise."""

import pytest
import torch

from workers import threads


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_configured_count_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.set_torch_threads(1) == 1


def test_one_core_is_left_free_by_default(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert threads.set_torch_threads(None) == 3
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0})
    assert threads.set_torch_threads(None) == 1


def test_omp_num_threads_is_respected(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    torch.set_num_threads(2)  # what torch read from the variable at start-up
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    assert threads.set_torch_threads(None) == 2


def test_a_thread_count_below_one_is_refused(monkeypatch):
    from pydantic import ValidationError

    from app.settings import Settings

    monkeypatch.setenv("T2V_TORCH_THREADS", "0")
    with pytest.raises(ValidationError, match="torch_threads"):
        Settings()
