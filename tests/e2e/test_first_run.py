"""The first run as a newcomer sees it: `make run` installs quietly, then `t2v demo` prints a short
start-up block, a live progress bar and the result, ending with the paths, in a real terminal."""

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import TEST_CATALOG
from tests.support import ROOT, base_env


# Cursor movement, colours and line erasing that a progress bar draws with.
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_terminal(args: list[str], env: dict[str, str], timeout_s: float) -> tuple[int, str]:
    """Run `args` with a pseudo-terminal as stdin, stdout and stderr; its exit status and output."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    chunks = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: every process holding the terminal has closed it
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    return code, b"".join(chunks).decode(errors="replace")


def screen_lines(output: str) -> list[str]:
    """What stays on the screen: a line redrawn in place (after `\\r`) counts once, as last drawn."""
    lines = []
    for raw in ANSI.sub("", output).replace("\r\n", "\n").split("\n"):
        drawn = raw.split("\r")[-1].rstrip()
        if drawn:
            lines.append(drawn)
    return lines


def test_demo_in_a_terminal_is_short_and_ends_with_the_paths(tmp_path):
    env = base_env("", tmp_path / "data", TEST_CATALOG, HOME=str(tmp_path / "home"), TERM="xterm-256color")
    env.pop("T2V_REDIS_URL")
    env.pop("PYTHONUNBUFFERED")  # as a user's shell has it
    out = tmp_path / "samples"
    code, output = run_in_terminal(
        [sys.executable, "-m", "app.cli", "demo", "--out", str(out), "--prompt", "a red square moving right"],
        env,
        timeout_s=300,
    )
    lines = screen_lines(output)
    print("\n".join(["", f"--- t2v demo in a terminal: {len(lines)} lines ---", *lines]))
    assert code == 0, output
    assert len(lines) <= 25, output
    for noise in ("Traceback", "WARNING", "rq.worker", "divisible by"):
        assert noise not in output, output

    assert any("%" in line for line in lines), "no progress bar"
    assert any(line.startswith("made in") for line in lines)
    assert any("model was asked" in line and "red square" in line for line in lines)
    video = Path(lines[-2].split(":", 1)[1].strip())
    sheet = Path(lines[-1].split(":", 1)[1].strip())
    assert lines[-2].strip().startswith("video:") and lines[-1].strip().startswith("contact sheet:")
    assert video.parent == out and video.suffix == ".mp4" and video.stat().st_size > 0
    assert sheet.parent == out and sheet.stat().st_size > 0
    # Everything the processes said went to the log files instead.
    logs = tmp_path / "data" / "logs"
    assert "rq.worker" in (logs / "worker.log").read_text()


def test_make_install_is_quiet():
    """The install recipe runs pip quietly, without its version check, and filters this kind of
    machine's note about configured local indexes that lack a package."""
    recipe = subprocess.run(
        ["make", "-n", "-B", "install"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    pip_lines = [line for line in recipe.splitlines() if " install " in line and "pip" in line]
    assert len(pip_lines) >= 3, recipe
    for line in pip_lines:
        assert "--quiet" in line and "--disable-pip-version-check" in line, line
        assert "is ignored" in line, line  # the filter

    # The filter drops exactly that note and keeps everything else, including pip's exit status.
    note = "WARNING: Location 'file:///opt/index/simple/six/' is ignored: it is neither a file nor a directory."
    shown = subprocess.run(
        ["make", "--no-print-directory", "-f", "-", "show"],
        cwd=ROOT,
        input=("include Makefile\nshow:\n\t@printf '%s\\nERROR: real problem\\n' \"" + note + '" $(PIP_QUIET)\n'),
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    assert "ERROR: real problem" in shown.stdout + shown.stderr and "is ignored" not in shown.stdout + shown.stderr
    failed = subprocess.run(
        ["make", "--no-print-directory", "-f", "-", "fail"],
        cwd=ROOT,
        input="include Makefile\nfail:\n\t@false $(PIP_QUIET)\n",
        capture_output=True,
        text=True,
    )
    assert failed.returncode != 0
