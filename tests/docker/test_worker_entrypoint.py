"""The worker image's entry point and compose's command line, run outside Docker, serve a job."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from tests.support import ROOT, _announced, wait_until


COMPOSE = ROOT / "docker-compose.yml"


def compose_worker_command(model: str) -> list[str]:
    command = yaml.safe_load(COMPOSE.read_text())["services"]["worker"]["command"]
    return [part.replace("${T2V_WORKER_MODELS:-wan2.1-t2v-1.3b}", model) for part in command]


def test_image_entrypoint_with_compose_command_serves_a_job(env, redis, api_url, tmp_path):
    # ENTRYPOINT ["claim-gpu"] + the compose command, with this venv's `t2v` first on PATH.
    command = ["bash", str(ROOT / "docker" / "claim-gpu.sh"), *compose_worker_command("tiny-wan-b")]
    assert command[2:5] == ["t2v", "worker", "--models"]
    path = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    log = open(tmp_path / "entrypoint.log", "wb")  # noqa: SIM115 (closed after the worker stops)
    worker = subprocess.Popen(command, cwd=ROOT, env={**env, "PATH": path}, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _announced(redis, worker.pid), timeout_s=120, what="the image's worker command")
        video = httpx.post(f"{api_url}/v1/videos", json={"prompt": "from the image", "model": "tiny-wan-b"}).json()
        done = wait_until(
            lambda: (v := httpx.get(f"{api_url}/v1/videos/{video['id']}").json())["status"] == "completed" and v,
            timeout_s=60,
        )
        assert done["progress"] == 100
    finally:
        worker.send_signal(subprocess.signal.SIGTERM)  # what `docker stop` sends
        assert worker.wait(timeout=60) == 0
        log.close()
