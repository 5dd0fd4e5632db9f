"""How many CPU threads a render worker's torch runs.

torch's default is one thread per core. A worker rarely has the machine to itself: the API,
Redis and its own MP4 encoder run beside it, and when one of them takes a core, an OpenMP
thread of every parallel region waits at the barrier for the one that lost its core. On a
two-core machine serving the API that cost the embedded model 5-10 % end to end, and far more
when the cores were busy (bench/RESULTS.md, "Note on threads"). So a worker leaves one core free.
"""

import os

import torch


def default_torch_threads() -> int:
    """One fewer than the cores this process may run on, at least one."""
    return max(1, len(os.sched_getaffinity(0)) - 1)


def set_torch_threads(configured: int | None) -> int:
    """Apply `T2V_TORCH_THREADS`, else OMP_NUM_THREADS (torch already follows it), else the
    default above; returns the count torch runs with."""
    if configured is not None:
        torch.set_num_threads(configured)
    elif not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(default_torch_threads())
    return torch.get_num_threads()
