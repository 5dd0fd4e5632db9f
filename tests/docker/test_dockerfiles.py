"""The Dockerfiles lint clean with hadolint and keep the promises the deployment relies on;
the worker image's GPU claim works with real locks and real processes."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.embedded_redis import free_port
from app.liveness import announce, retire


ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILES = [DOCKER / "Dockerfile.api", DOCKER / "Dockerfile.worker"]
CLAIM_GPU = DOCKER / "claim-gpu.sh"
REQUIREMENTS_API = DOCKER / "requirements-api.txt"
FAKE_GPUS = ["GPU-11111111-aaaa", "GPU-22222222-bbbb"]
# Imported when present, not needed: redis-py tries cryptography (OCSP stapling); httpx loads
# its command-line tool when rich and pygments are installed.
OPTIONAL_IMPORTS = {"cryptography", "rich", "pygments"}


def tool(name: str) -> str:
    # The test extra installs these next to the interpreter, which need not be on PATH.
    found = shutil.which(name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if not found:
        pytest.skip(f"{name} is not installed (pip install '.[test]' provides it)")
    return found


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) pairs, continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        current += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            joined.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in joined]


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def base_images(dockerfile: Path) -> list[str]:
    steps = instructions(dockerfile)
    defaults = {}
    for keyword, args in steps:
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in args:
            name, value = args.split("=", 1)
            defaults[name] = value
    images = []
    for keyword, args in steps:
        if keyword == "FROM":
            image = args.split()[0]
            images.append(re.sub(r"\$\{?(\w+)\}?", lambda m: defaults[m.group(1)], image))
    return images


def run_hadolint(dockerfile: Path, cwd: Path) -> subprocess.CompletedProcess:
    # Run from an empty directory with an empty home, so no stray .hadolint.yaml relaxes the rules.
    environment = dict(os.environ, HOME=str(cwd), XDG_CONFIG_HOME=str(cwd))
    return subprocess.run(
        [tool("hadolint"), "--failure-threshold", "style", "--format", "json", str(dockerfile)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile, tmp_path):
    result = run_hadolint(dockerfile, tmp_path)
    findings = json.loads(result.stdout or "[]")
    assert result.returncode == 0 and not findings, json.dumps(findings, indent=1)


def test_hadolint_does_flag_a_careless_dockerfile(tmp_path):
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    result = run_hadolint(careless, tmp_path)
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert result.returncode != 0
    assert {"DL3007", "DL3008", "DL3015"} <= codes


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_multi_stage_non_root_with_healthcheck(dockerfile):
    froms = [args for keyword, args in instructions(dockerfile) if keyword == "FROM"]
    assert len(froms) >= 2, "build tools stay in a builder stage"
    last = final_stage(dockerfile)
    users = [args for keyword, args in last if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert any(keyword == "HEALTHCHECK" for keyword, _ in last)
    assert any(keyword in {"CMD", "ENTRYPOINT"} for keyword, _ in last)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned(dockerfile):
    for image in base_images(dockerfile):
        _, _, tag = image.partition(":")
        assert "@sha256:" in image or (tag and tag != "latest" and re.search(r"\d", tag)), image


def test_api_image_has_no_cuda_and_no_torch():
    (base,) = set(base_images(DOCKER / "Dockerfile.api"))
    assert base.startswith("python:") and "slim" in base
    steps = " ".join(args for _, args in instructions(DOCKER / "Dockerfile.api"))
    requirements = "".join(line for line in REQUIREMENTS_API.read_text().splitlines(True) if not line.startswith("#"))
    assert not re.search(r"torch|diffusers|cuda|nvidia", steps + requirements, flags=re.IGNORECASE)


def test_worker_image_is_cuda_runtime_with_the_makefile_torch():
    (base,) = set(base_images(DOCKER / "Dockerfile.worker"))
    assert base.startswith("nvidia/cuda:") and "runtime" in base
    text = (DOCKER / "Dockerfile.worker").read_text()
    assert re.search(r"TORCH_INDEX_URL=https://download\.pytorch\.org/whl/cu\d+", text)
    # Laptops (Makefile) and images run the same torch release.
    makefile_pin = re.search(r"TORCH_PIN \?= torch==(\S+)", (ROOT / "Makefile").read_text()).group(1)
    assert f"TORCH_VERSION={makefile_pin}" in text


def test_build_context_holds_what_the_images_copy_and_nothing_secret():
    rules = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*", "an allow-list keeps .env, .venv and data/ out of the build context"
    allowed = [rule[1:].rstrip("/") for rule in rules if rule.startswith("!")]

    def included(path: str) -> bool:
        return any(path == rule or path.startswith(rule + "/") for rule in allowed)

    for dockerfile in DOCKERFILES:
        for keyword, args in instructions(dockerfile):
            if keyword != "COPY" or "--from=" in args:
                continue
            sources = [word for word in args.split()[:-1] if not word.startswith("--")]
            for source in sources:
                assert included(source.rstrip("/")), (
                    f"{dockerfile.name} copies {source}, which .dockerignore leaves out"
                )
                assert (ROOT / source).exists(), f"{dockerfile.name} copies missing {source}"
    for secret in (".env", ".venv", "data", ".git"):
        assert not included(secret)


def test_api_requirements_are_pinned_and_cover_what_the_api_imports(tmp_path):
    requirements = [
        Requirement(line)
        for line in REQUIREMENTS_API.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert all(len(r.specifier) == 1 and next(iter(r.specifier)).operator == "==" for r in requirements)

    # Everything the API image runs: every module of `app`, the API itself, and the CPU-only
    # workers (expand, notify) with their job functions.
    probe = textwrap.dedent(
        """
        import importlib, json, pkgutil, sys
        at_start_up = set(sys.modules)
        import app
        for module in pkgutil.walk_packages(app.__path__, "app."):
            importlib.import_module(module.name)
        from app.main import create_app
        from app.queueing import EXPAND_JOB
        from app.webhooks.deliveries import NOTIFY_JOB
        for job in (EXPAND_JOB, NOTIFY_JOB):
            importlib.import_module(job.rsplit(".", 1)[0])
        import uvicorn, workers.worker
        create_app()
        print(json.dumps(sorted({name.split(".")[0] for name in set(sys.modules) - at_start_up})))
        """
    )
    environment = dict(os.environ, T2V_DATA_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    modules = set(json.loads(result.stdout.splitlines()[-1]))
    assert "torch" not in modules and "diffusers" not in modules

    owners = metadata.packages_distributions()
    imported = {
        canonicalize_name(dist)
        for module in modules - set(sys.stdlib_module_names) - {"app", "models", "workers"} - OPTIONAL_IMPORTS
        for dist in owners.get(module, [])
    }
    missing = imported - installed_closure(requirements)
    assert not missing, f"the API image would lack {sorted(missing)}: add them to {REQUIREMENTS_API.name}"


def installed_closure(requirements: list[Requirement]) -> set[str]:
    """These requirements and everything they pull in, per the installed packages' metadata."""
    environment = default_environment() | {"extra": ""}
    pending = [canonicalize_name(r.name) for r in requirements]
    seen = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name} is not installed here: the project's dependencies should include it")
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(environment):
                pending.append(canonicalize_name(requirement.name))
    return seen


def test_claim_gpu_script_passes_shellcheck():
    result = subprocess.run([tool("shellcheck"), str(CLAIM_GPU)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


@pytest.fixture
def gpu_host(tmp_path):
    """A PATH with a stand-in nvidia-smi listing two GPUs, plus the few tools the script uses."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("flock", "mkdir", "sleep", "tr"):
        (bin_dir / name).symlink_to(tool(name))
    fake = bin_dir / "nvidia-smi"
    fake.write_text("#!/bin/sh\n" + "".join(f"echo ' {gpu}'\n" for gpu in FAKE_GPUS))
    fake.chmod(0o755)
    return {"PATH": str(bin_dir), "GPU_LOCK_DIR": str(tmp_path / "locks"), "GPU_CLAIM_RETRY_S": "0.1"}


@pytest.fixture
def start_worker():
    """Starts stand-in workers through claim-gpu; kills any still running after the test."""
    started = []

    def start(environment: dict[str, str]) -> subprocess.Popen:
        # The stand-in reports the GPU it was given, then runs until its stdin closes.
        command = [
            sys.executable,
            "-c",
            "import os, sys; print(os.environ.get('CUDA_VISIBLE_DEVICES'), flush=True); sys.stdin.read()",
        ]
        worker = subprocess.Popen(
            [shutil.which("bash") or "/bin/bash", str(CLAIM_GPU), *command],
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.poll() is None:
            worker.kill()
        worker.wait()


def stop(worker: subprocess.Popen) -> None:
    worker.stdin.close()
    assert worker.wait(timeout=30) == 0


@pytest.mark.timeout(60)
def test_replicas_claim_distinct_gpus_and_a_spare_takes_a_freed_one(gpu_host, start_worker):
    first, second = start_worker(gpu_host), start_worker(gpu_host)
    first_gpu, second_gpu = first.stdout.readline().strip(), second.stdout.readline().strip()
    assert {first_gpu, second_gpu} == set(FAKE_GPUS)

    spare = start_worker(gpu_host)
    assert "waiting" in spare.stderr.readline()
    stop(first)
    # The kernel dropped the exited worker's lock; the spare picks that GPU up.
    assert spare.stdout.readline().strip() == first_gpu


@pytest.mark.timeout(60)
def test_a_gpu_chosen_by_hand_or_no_driver_means_no_claim(gpu_host, start_worker, tmp_path):
    chosen = start_worker(gpu_host | {"CUDA_VISIBLE_DEVICES": "3"})
    assert chosen.stdout.readline().strip() == "3"
    stop(chosen)

    (Path(gpu_host["PATH"]) / "nvidia-smi").unlink()
    cpu_only = start_worker(gpu_host)
    assert cpu_only.stdout.readline().strip() == "None"
    stop(cpu_only)
    assert not (tmp_path / "locks").exists()


def healthcheck_command(dockerfile: Path) -> list[str]:
    (args,) = [args for keyword, args in final_stage(dockerfile) if keyword == "HEALTHCHECK"]
    command = json.loads(args.split(" CMD ", 1)[1])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


def run_check(command: list[str], environment: dict[str, str]) -> int:
    environment = dict(os.environ, PYTHONPATH=str(ROOT)) | environment
    return subprocess.run(command, env=environment, capture_output=True, timeout=60).returncode


def test_worker_healthcheck_follows_this_hosts_liveness_key(tmp_path):
    # A Valkey of its own: the session's has other tests' workers of this very host on it.
    from redis import Redis

    from app.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "redis").start()
    try:
        _check_worker_healthcheck(Redis.from_url(server.url), server.url)
    finally:
        server.stop()


def _check_worker_healthcheck(redis, url: str) -> None:
    command = healthcheck_command(DOCKER / "Dockerfile.worker")
    environment = {"T2V_REDIS_URL": url}
    name = f"{socket.gethostname()}.4242.healthcheck"

    assert run_check(command, environment) == 1, "no worker of this host is alive yet"
    announce(redis, name, {"models": [], "queues": ["notify"]}, ttl_s=60)
    try:
        assert run_check(command, environment) == 0
    finally:
        retire(redis, name)
    assert run_check(command, environment) == 1


def test_compose_cpu_workers_use_the_worker_images_healthcheck():
    compose_file = (ROOT / "docker-compose.yml").read_text()
    worker_check = healthcheck_command(DOCKER / "Dockerfile.worker")[-1]
    assert worker_check in compose_file, "the expander and notifier check differs from the worker image's"


def test_api_healthcheck_asks_the_running_api(api_url):
    command = healthcheck_command(DOCKER / "Dockerfile.api")
    port = api_url.rsplit(":", 1)[1].split("/")[0]
    assert run_check(command, {"T2V_API_PORT": port}) == 0
    assert run_check(command, {"T2V_API_PORT": str(free_port())}) != 0
