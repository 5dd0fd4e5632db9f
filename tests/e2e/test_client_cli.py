"""`t2v generate` and `t2v videos` as a user runs them, against the real API and render worker:
under a pseudo-terminal (the progress bar), and with `--json` (what scripts parse)."""

import json
import os
import pty
import re
import subprocess
import sys

import pytest

from tests.event_fixtures import RENDERED, events_worker  # noqa: F401 (a fixture)
from tests.support import ROOT


def t2v(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def under_terminal(*args: str, cwd) -> tuple[int, str]:
    """Run `t2v` with a pseudo-terminal as its stdout and stderr; everything it drew, and its exit code."""
    main, child = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "30"}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args], cwd=cwd, env=env, stdin=child, stdout=child, stderr=child
    )
    os.close(child)
    output = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not chunk:
            break
        output += chunk
    os.close(main)
    return process.wait(timeout=60), output.decode(errors="replace")


@pytest.mark.usefixtures("events_worker")
def test_generate_draws_a_progress_bar_on_a_terminal_and_saves_the_mp4(api_url, tmp_path):
    target = tmp_path / "ball.mp4"
    code, output = under_terminal(
        "generate", "a red ball rolling left", "--model", RENDERED, "--server", api_url, "-o", str(target), cwd=ROOT
    )
    assert code == 0, output
    assert "━" in output, "no progress bar drawn"
    assert "denoising step" in output and "ETA" in output, output
    assert "completed" in output and "100%" in output
    # The bar redraws itself in place (carriage returns / cursor moves), it does not scroll.
    assert "\r" in output or "\x1b[" in output
    # The path alone on the last line (after the terminal's own cursor codes).
    assert re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output).strip().splitlines()[-1].strip() == str(target)
    data = target.read_bytes()
    assert data[4:8] == b"ftyp", "not an MP4"


@pytest.mark.usefixtures("events_worker")
def test_json_output_is_parseable_and_videos_commands_work(api_url, tmp_path):
    server = ["--server", api_url, "--json"]
    made = t2v(
        "generate", "a blue square", "--model", RENDERED, "--seconds", "4", "-o", str(tmp_path / "a.mp4"), *server
    )
    assert made.returncode == 0, made.stderr
    result = json.loads(made.stdout)
    video = result["video"]
    assert video["status"] == "completed" and video["seconds"] == "4"
    assert (tmp_path / "a.mp4").read_bytes()[4:8] == b"ftyp"

    listing = json.loads(t2v("videos", "list", "--limit", "5", *server).stdout)
    assert video["id"] in [v["id"] for v in listing["data"]]
    shown = json.loads(t2v("videos", "show", video["id"], *server).stdout)
    assert shown["id"] == video["id"] and shown["progress"] == 100
    thumb = t2v("videos", "download", video["id"], "--variant", "thumbnail", "-o", str(tmp_path / "t.webp"), *server)
    assert json.loads(thumb.stdout)["path"] == str(tmp_path / "t.webp")
    assert (tmp_path / "t.webp").read_bytes()[8:12] == b"WEBP"
    text_list = t2v("videos", "list", "--server", api_url)
    assert video["id"] in text_list.stdout
    assert json.loads(t2v("videos", "delete", video["id"], *server).stdout)["deleted"] is True

    missing = t2v("videos", "show", video["id"], *server)
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"t2v: No video found with id {video['id']!r}"
    refused = t2v("generate", "x", "--model", "no-such-model", *server)
    assert refused.returncode == 1 and "no-such-model" in refused.stderr
