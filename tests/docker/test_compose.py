"""docker-compose.yml, parsed and validated by a real Compose parser, then checked for the
properties a deployment relies on."""

import re
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import AliasChoices

from app.cli import main as cli_main
from app.queueing import EXPAND_QUEUE
from app.settings import Settings
from app.storage.s3 import S3Settings
from app.webhooks.deliveries import NOTIFY_QUEUE


compose_spec = pytest.importorskip("compose_spec", reason="the compose-spec package (test extra) is not installed")

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
CATALOG = ROOT / "models" / "catalog.toml"
# The smoke test's stack driver reads the compose file with the same substitution.
sys.path.insert(0, str(ROOT / "docker" / "smoke"))
from compose_vars import VARIABLE, interpolate  # noqa: E402


def load(environment: dict[str, str] | None = None) -> dict:
    text = interpolate(COMPOSE_FILE.read_text(), environment or {})
    project = compose_spec.PyOptions(apply_merge=True).from_yaml(text)
    project.validate()
    return project.to_dict()


@pytest.fixture(scope="module")
def compose() -> dict:
    return load()


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def documented_variables() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))


def devices(service: dict) -> list[dict]:
    return service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])


def render_workers(services: dict) -> dict:
    return {name: s for name, s in services.items() if "--models" in s.get("command", [])}


def test_interpolation_follows_compose_rules():
    assert interpolate("${A:-x} ${A-y} $${A} ${B}", {"A": ""}) == "x  ${A} "
    with pytest.raises(ValueError, match="A: needed"):
        interpolate("${A:?needed}", {})


def test_every_variable_has_a_default_and_is_documented():
    text = COMPOSE_FILE.read_text()
    variables = [m for m in VARIABLE.finditer(text) if m.group("name")]
    assert variables
    without_default = [m.group(0) for m in variables if m.group("op") not in (":-", "-")]
    assert not without_default, "`docker compose up` must work without a .env file"
    undocumented = {m.group("name") for m in variables} - documented_variables()
    assert not undocumented, f"add these to .env.example: {sorted(undocumented)}"


def environment_names(settings_class, prefix: str) -> set[str]:
    """The variable each setting is read from: its first alias, else prefix + NAME."""
    names = set()
    for name, field in settings_class.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.add(str(alias.choices[0]))
        else:
            names.add(alias if isinstance(alias, str) else f"{prefix}{name.upper()}")
    return names


def test_env_example_documents_every_setting():
    expected = environment_names(Settings, "T2V_") | environment_names(S3Settings, "T2V_S3_")
    missing = expected - documented_variables()
    assert not missing, f"add these to .env.example: {sorted(missing)}"


def test_redis_persists_with_aof_and_never_evicts(compose, services):
    redis = services["redis"]
    command = " ".join(redis["command"])
    for flag in ("--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"):
        assert flag in command
    data_volume = next(v.split(":")[0] for v in redis["volumes"] if v.endswith(":/data"))
    assert data_volume in compose["volumes"]
    assert redis["healthcheck"]["test"]


def test_api_publishes_8000_and_waits_for_healthy_redis(services):
    api = services["api"]
    # Published on the host's loopback only until keys exist (see .env.example, T2V_API_BIND).
    assert api["ports"] == ["127.0.0.1:8000:8000"]
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    assert api["environment"]["T2V_API_HOST"] == "0.0.0.0"
    assert api["build"]["dockerfile"] == "docker/Dockerfile.api"


def test_everything_that_needs_redis_waits_for_it_to_be_healthy(services):
    for name, service in services.items():
        if name != "redis":
            assert service["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_gpu_worker_reserves_nvidia_gpus_and_drains_before_stopping(services):
    worker = services["worker"]
    assert "profiles" not in worker, "`docker compose up` on a GPU host must start it"
    (gpu,) = devices(worker)
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    # A stopping worker finishes its job first: give it at least the job timeout.
    grace_s = compose_spec.parse_duration(worker["stop_grace_period"])
    assert grace_s >= Settings().job_timeout_s
    assert worker["command"][:3] == ["t2v", "worker", "--models"]


def test_worker_models_come_from_the_environment():
    custom = load({"T2V_WORKER_MODELS": "wan-a,wan-b", "T2V_DEFAULT_MODEL": "wan-a"})["services"]
    assert custom["worker"]["command"][-1] == "wan-a,wan-b"
    assert custom["api"]["environment"]["T2V_DEFAULT_MODEL"] == "wan-a"


def test_default_models_are_in_the_shipped_catalog(services):
    catalog = tomllib.loads(CATALOG.read_text())["models"]
    for name, worker in render_workers(services).items():
        for model in worker["command"][-1].split(","):
            assert model in catalog, f"{name} serves {model!r}, which the shipped catalog lacks"
    assert services["api"]["environment"]["T2V_DEFAULT_MODEL"] in catalog


def test_default_model_is_one_the_default_worker_serves(services):
    assert services["api"]["environment"]["T2V_DEFAULT_MODEL"] in services["worker"]["command"][-1].split(",")


def test_workers_scale_out(services):
    for name, service in services.items():
        assert "container_name" not in service, f"{name}: a fixed name blocks --scale"
    for name in set(services) - {"api"}:
        assert "ports" not in services[name], f"{name}: a fixed host port blocks --scale"


def test_cpu_profile_runs_the_embedded_default_without_a_gpu(services):
    cpu_workers = {n: s for n, s in services.items() if "cpu" in s.get("profiles", [])}
    assert cpu_workers
    for worker in cpu_workers.values():
        assert not devices(worker) and "runtime" not in worker
        assert worker["command"][:3] == ["t2v", "worker", "--models"]
        assert worker["command"][-1] == Settings().default_model
        for name, value in worker.get("build", {}).get("args", {}).items():
            if name.endswith("_IMAGE"):
                assert re.search(r":[^:]*\d", value) and not value.endswith(":latest"), f"unpinned {name}"
    # With the GPU worker scaled to 0, nothing else asks for a GPU.
    assert [name for name, s in services.items() if devices(s)] == ["worker"]


def test_expander_is_optional_and_torch_free(services):
    expander = services["expander"]
    assert expander["profiles"] == ["expand"]
    assert expander["command"] == ["t2v", "worker", "--queues", "expand"]
    assert expander["build"]["dockerfile"] == "docker/Dockerfile.api"
    assert "python" in expander["healthcheck"]["test"], "the API image's HTTP check does not fit a worker"


def test_every_queue_the_api_feeds_has_a_worker(services):
    always_on = [s for s in services.values() if not s.get("profiles")]
    consumed = {
        queue
        for service in always_on
        if "--queues" in service.get("command", [])
        for queue in service["command"][service["command"].index("--queues") + 1].split(",")
    }
    # Webhook deliveries must not depend on an optional profile; expansion is opt-in.
    assert NOTIFY_QUEUE in consumed
    assert EXPAND_QUEUE not in consumed


def test_volumes_are_declared_and_hf_cache_is_where_the_worker_image_looks(compose, services):
    declared = set(compose["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in declared, f"{name} mounts undeclared volume {source}"
    dockerfile = (ROOT / "docker" / "Dockerfile.worker").read_text()
    hf_home = re.search(r"HF_HOME=(\S+)", dockerfile).group(1)
    for name, worker in render_workers(services).items():
        assert f"hf-cache:{hf_home}" in worker["volumes"], name


def test_commands_use_flags_the_cli_has(services, capsys):
    for name, service in services.items():
        command = service.get("command", [])
        if command[:1] != ["t2v"]:
            continue
        with pytest.raises(SystemExit) as exited:
            cli_main([command[1], "--help"])
        assert exited.value.code == 0
        usage = capsys.readouterr().out
        for flag in (arg for arg in command[2:] if arg.startswith("--")):
            # Whole flags only: argparse would also take an abbreviation like --queue.
            assert re.search(rf"{re.escape(flag)}(?![\w-])", usage), f"{name}: `t2v {command[1]}` has no {flag}"
