"""Children that a terminal's Ctrl-C does not reach, and that do not outlive their parent."""

import ctypes
import signal
import sys


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """For `preexec_fn`: SIGTERM this child when its parent dies, even by SIGKILL (Linux).

    Children started in a session of their own (`start_new_session=True`) miss the terminal's
    signals, which is the point, and would outlive a killed parent, which is not. SIGTERM lets each
    stop the way it would for its parent's own shutdown.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
