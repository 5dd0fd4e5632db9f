"""Run the CPU stack of docker-compose.yml in containers and check what a deployment relies on.

Compose v2 is not installable everywhere, so this reads the compose file itself (PyYAML, with
Compose's `${VAR:-default}` substitution) and turns its services into `docker run` calls on a
user-defined network: the same images, commands, environment, volumes, ports, health checks,
init and stop grace periods. Then:

- every health check turns healthy;
- a video made through the published API port with the `openai` package downloads as an MP4;
- the images run as non-root, and the API image holds no torch;
- a worker container killed mid-render (`docker kill`) has its video finished by another;
- a worker stopped mid-render exits 0 at once and its video is not lost (handed back, then
  finished by a worker started again);
- every container stops cleanly (exit code 0) within its grace period.

    python docker/smoke/stack.py      (docker/smoke.sh builds the images first)
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import yaml
from compose_vars import interpolate  # beside this script
from openai import OpenAI


# The SDK warns that OpenAI's hosted service is gone; this server is what it talks to instead.
warnings.filterwarnings("ignore", category=DeprecationWarning)

ROOT = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("T2V_SMOKE_PROJECT", "t2v-smoke")
MODEL = "tiny-wan"
# The render that is killed mid-way: the tiny model's largest clip and its most steps, so even on
# an idle machine it runs for many seconds and the kill lands mid-render (at 64x64 and 100 steps an
# idle machine finished it before the kill), while the takeover still ends within a few minutes.
SLOW_RENDER = {"size": "128x128", "seconds": "4", "num_inference_steps": 200}
# Compose service -> container names started for it (a second CPU worker takes over a killed one).
REPLICAS = {
    "redis": ["redis"],
    "api": ["api"],
    "worker-cpu": ["worker-cpu-1", "worker-cpu-2"],
    "notifier": ["notifier"],
}
DOCKER = os.environ.get("DOCKER", "docker")
figures: dict[str, str] = {}


def seconds(duration: str | int) -> int:
    """Compose durations: `90s`, `2m`, `1h`, `1m30s`."""
    if isinstance(duration, int):
        return duration
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    total = sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration))
    return max(1, int(total))


def docker(*args: str, check: bool = True, timeout: float = 600) -> str:
    done = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout_s: float, what: str, interval_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


def check(ok: bool, what: str) -> None:
    print(f"  {'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        raise AssertionError(what)


class Stack:
    def __init__(self, services: dict, network: str):
        self.services, self.network = services, network
        self.containers: dict[str, str] = {}  # container name -> compose service

    def name(self, replica: str) -> str:
        return f"{PROJECT}-{replica}"

    def run(self, service: str, replica: str) -> str:
        spec = self.services[service]
        args = ["run", "-d", "--name", self.name(replica), "--network", self.network, "--network-alias", service]
        for key, value in (spec.get("environment") or {}).items():
            args += ["-e", f"{key}={value}"]
        for volume in spec.get("volumes") or []:
            source, target = volume.split(":", 1)
            args += ["-v", f"{PROJECT}-{source}:{target}"]
        for port in spec.get("ports") or []:
            args += ["-p", port]
        health = spec.get("healthcheck")
        if health:
            test = health["test"]
            if test[0] == "CMD-SHELL":
                args += ["--health-cmd", test[1]]
            else:  # CMD: docker run takes a shell string; the exec form's arguments are quoted.
                args += ["--health-cmd", " ".join(json.dumps(part) for part in test[1:])]
            args += [
                "--health-interval",
                health.get("interval", "30s"),
                "--health-timeout",
                health.get("timeout", "30s"),
            ]
            args += ["--health-retries", str(health.get("retries", 3))]
            args += ["--health-start-period", health.get("start_period", "0s")]
        if spec.get("init"):
            args.append("--init")
        if spec.get("shm_size"):
            args += ["--shm-size", spec["shm_size"]]
        args += ["--stop-timeout", str(seconds(spec.get("stop_grace_period", "10s")))]
        if spec.get("restart"):
            args += ["--restart", spec["restart"]]
        # The compose file names upstream Valkey; this host runs the same binary the tests use.
        image = os.environ.get("T2V_SMOKE_REDIS_IMAGE") if service == "redis" else None
        args.append(image or spec["image"])
        args += [str(part) for part in spec.get("command") or []]
        container = docker(*args)
        self.containers[self.name(replica)] = service
        return container

    def health(self, replica: str) -> str:
        return docker("inspect", "-f", "{{.State.Health.Status}}", self.name(replica), check=False)

    def wait_healthy(self, replicas: list[str], timeout_s: float) -> None:
        started = time.monotonic()
        for replica in replicas:
            wait_until(lambda r=replica: self.health(r) == "healthy", timeout_s, f"{replica} to turn healthy")
        figures[f"healthy: {', '.join(replicas)}"] = f"{time.monotonic() - started:.0f} s"

    def hget(self, key: str, field: str):
        raw = docker("exec", self.name("redis"), "valkey-cli", "--raw", "hget", key, field)
        return json.loads(raw) if raw else None

    def down(self) -> None:
        # By name, so a run that was interrupted is cleaned up by the next one.
        for replica in (r for replicas in REPLICAS.values() for r in replicas):
            docker("rm", "-f", "-v", self.name(replica), check=False)
        for volume in ("videos", "redis-data", "hf-cache", "gpu-locks"):
            docker("volume", "rm", "-f", f"{PROJECT}-{volume}", check=False)
        # By id: two runs started at once can leave two networks of this name, which
        # `docker network rm NAME` refuses as ambiguous.
        for network_id in docker("network", "ls", "-q", "--filter", f"name=^{self.network}$", check=False).split():
            docker("network", "rm", network_id, check=False)


def load_compose(port: int) -> dict:
    environment = {
        "T2V_API_PUBLISH": str(port),
        "T2V_DEFAULT_MODEL": MODEL,
        "T2V_CPU_WORKER_MODELS": MODEL,
    }
    try:
        text = interpolate((ROOT / "docker-compose.yml").read_text(), environment)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return yaml.safe_load(text)["services"]


def image_checks() -> None:
    api_image, worker_image = "t2v-server-api:latest", "t2v-server-worker-cpu:latest"
    for image in (api_image, worker_image):
        size = int(docker("image", "inspect", "-f", "{{.Size}}", image))
        figures[f"image {image}"] = f"{size / 1e6:.0f} MB"
    no_torch = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"
    check(
        subprocess.run([DOCKER, "run", "--rm", api_image, "python", "-c", no_torch]).returncode == 0,
        "API image holds no torch",
    )


def render_and_download(client: OpenAI, prompt: str, timeout_s: float = 180) -> tuple[str, bytes]:
    video = client.videos.create(model=MODEL, prompt=prompt, size="32x32", seconds="1")
    wait_until(lambda: client.videos.retrieve(video.id).status in ("completed", "failed"), timeout_s, f"{video.id}")
    video = client.videos.retrieve(video.id)
    check(video.status == "completed", f"video {video.id} completed ({video.status})")
    return video.id, client.videos.download_content(video.id).read()


def kill_mid_render(stack: Stack, base_url: str) -> str:
    """`docker kill` the worker rendering the slow video; the other must finish it. Returns the other."""
    key = start_slow_render(stack, base_url)
    video_id = key.removeprefix("t2v:video:")
    holder = stack.hget(key, "worker")
    victim = next(
        r
        for r in REPLICAS["worker-cpu"]
        if holder.startswith(docker("inspect", "-f", "{{.Config.Hostname}}", stack.name(r)) + ".")
    )
    killed_at = time.monotonic()
    docker("kill", stack.name(victim))
    print(f"  killed {victim} at {stack.hget(key, 'progress')}% of {video_id}", flush=True)
    wait_until(lambda: stack.hget(key, "status") in ("completed", "failed"), 300, f"{video_id} to finish", interval_s=1)
    figures["killed worker's video finished after"] = f"{time.monotonic() - killed_at:.0f} s"
    finisher = stack.hget(key, "worker") or ""
    check(stack.hget(key, "status") == "completed", f"{video_id} completed after its worker was killed")
    survivor = next(r for r in REPLICAS["worker-cpu"] if r != victim)
    survivor_host = docker("inspect", "-f", "{{.Config.Hostname}}", stack.name(survivor))
    attempts = stack.hget(key, "attempts")
    check(finisher.startswith(survivor_host + "."), f"finished by {survivor}")
    figures["killed render: attempts"] = str(attempts)
    download = httpx.get(f"{base_url}/v1/videos/{video_id}/content", timeout=30)
    check(download.status_code == 200 and download.content[4:8] == b"ftyp", "its MP4 downloads")
    return survivor


def start_slow_render(stack: Stack, base_url: str) -> str:
    """Create the slow video; return its record key once a worker is mid-way through it."""
    response = httpx.post(
        f"{base_url}/v1/videos", json={"model": MODEL, "prompt": "a red square drifts", **SLOW_RENDER}, timeout=30
    )
    check(response.status_code == 200, f"slow video accepted ({response.status_code} {response.text[:200]})")
    key = f"t2v:video:{response.json()['id']}"
    wait_until(
        lambda: stack.hget(key, "status") == "in_progress" and (stack.hget(key, "progress") or 0) > 0,
        120,
        "the slow render to start",
    )
    return key


def stop_mid_render(stack: Stack, base_url: str, worker: str, spare: str) -> None:
    """`docker stop` a worker mid-render: it exits 0 within its grace period and its video is not
    lost (finished, or handed back to the queue: workers/handback.py); a worker started again
    then finishes it."""
    key = start_slow_render(stack, base_url)
    grace = seconds(stack.services["worker-cpu"].get("stop_grace_period", "10s"))
    progress = stack.hget(key, "progress")
    started = time.monotonic()
    docker("stop", stack.name(worker), timeout=grace + 60)
    took = time.monotonic() - started
    code = docker("inspect", "-f", "{{.State.ExitCode}}", stack.name(worker))
    status = stack.hget(key, "status")
    figures[f"stop of {worker} mid-render (at {progress}%)"] = f"{took:.1f} s, exit {code}, video then {status}"
    check(code == "0" and took < grace, f"{worker} stopped mid-render: exit 0 in {took:.1f} s (grace {grace} s)")
    check(status in ("queued", "completed"), f"its video was handed back or finished ({status})")
    docker("start", stack.name(spare))
    wait_until(lambda: stack.hget(key, "status") in ("completed", "failed"), 300, "the handed-back video", 1)
    check(stack.hget(key, "status") == "completed", f"{spare}, started again, finished the handed-back video")


def stop_all(stack: Stack) -> None:
    for container, service in reversed(list(stack.containers.items())):
        if docker("inspect", "-f", "{{.State.Running}}", container) != "true":
            continue
        grace = seconds(stack.services[service].get("stop_grace_period", "10s"))
        started = time.monotonic()
        docker("stop", container, timeout=grace + 60)
        took = time.monotonic() - started
        code = docker("inspect", "-f", "{{.State.ExitCode}}", container)
        figures[f"stop {container}"] = f"{took:.1f} s, exit {code}"
        check(
            code == "0" and took < grace, f"{container} stopped cleanly in {took:.1f} s (grace {grace} s, exit {code})"
        )


def main() -> int:
    port = free_port()
    services = load_compose(port)
    network = f"{PROJECT}-net"
    stack = Stack(services, network)
    stack.down()
    started = time.monotonic()
    try:
        image_checks()
        docker("network", "create", network)
        stack.run("redis", "redis")
        stack.wait_healthy(["redis"], 60)
        for service, replicas in REPLICAS.items():
            if service != "redis":
                for replica in replicas:
                    stack.run(service, replica)
        stack.wait_healthy(["api", *REPLICAS["worker-cpu"], "notifier"], 180)
        check(True, "health checks healthy: redis, api, 2 x worker-cpu, notifier")
        for replica in ("api", "worker-cpu-1", "notifier"):
            uid = docker("exec", stack.name(replica), "id", "-u")
            check(uid != "0", f"{replica} runs as uid {uid}")

        base_url = f"http://127.0.0.1:{port}"
        client = OpenAI(base_url=f"{base_url}/v1", api_key="smoke", max_retries=2)
        video_id, mp4 = render_and_download(client, "a blue circle moves right")
        check(mp4[4:8] == b"ftyp", f"{video_id} downloaded through the published port: {len(mp4)} bytes of MP4")

        survivor = kill_mid_render(stack, base_url)
        killed = next(r for r in REPLICAS["worker-cpu"] if r != survivor)
        stop_mid_render(stack, base_url, survivor, spare=killed)
        stop_all(stack)
    except Exception as exc:
        print(f"\nFAILED: {exc}", flush=True)
        for container in stack.containers:
            print(f"--- logs of {container} (last 30 lines)")
            logs = subprocess.run([DOCKER, "logs", "--tail", "30", container], capture_output=True, text=True)
            print(logs.stdout + logs.stderr)
        return 1
    finally:
        figures["stack run"] = f"{time.monotonic() - started:.0f} s"
        print("\nfigures:")
        for key, value in figures.items():
            print(f"  {key}: {value}")
        if not os.environ.get("T2V_SMOKE_KEEP"):
            stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
