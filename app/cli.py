"""`t2v`: run the API, workers, or the whole stack on one machine."""

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.client_cli import add_commands as add_client_commands
from app.settings import get_settings


def _api(args) -> None:
    import uvicorn

    settings = get_settings()
    host = args.host or settings.api_host
    port = args.port or settings.api_port
    _check_exposure(host, settings)
    if args.workers < 1:
        sys.exit(f"t2v api: --workers must be at least 1, not {args.workers}")
    # Every server process builds its own app from the environment (`api_app`), so they must
    # all see the host it binds to (it decides whether keys are required).
    os.environ["T2V_API_HOST"] = host
    get_settings.cache_clear()
    uvicorn.run(
        "app.cli:api_app",
        factory=True,
        host=host,
        port=port,
        workers=args.workers if args.workers > 1 else None,
        log_level="warning",
        access_log=False,
    )


def api_app():
    """The app one `t2v api` server process serves (uvicorn calls this in each of its workers)."""
    from app.auth import keys_required
    from app.main import create_app

    settings = get_settings()
    app = create_app(settings)
    app.state.keys_required = keys_required(settings.api_host, settings.allow_open_network)
    return app


def _check_exposure(host: str, settings) -> None:
    """Refuse to serve beyond loopback without API keys (unless allowed); say so when open."""
    from redis.exceptions import RedisError

    from app.auth import OpenNetworkRefused, check_exposure
    from app.redis_conn import connect

    try:
        warning = check_exposure(host, connect(settings), settings.allow_open_network)
    except OpenNetworkRefused as exc:
        sys.exit(f"t2v: {exc}")
    except RedisError as exc:
        # The API starts anyway and answers 503 until Redis is back; beyond loopback it then
        # requires a key regardless (`keys_required`), so it cannot come up open by accident.
        warning = f"warning: could not check for API keys, Redis is unreachable ({type(exc).__name__})"
    if warning:
        print(warning, file=sys.stderr, flush=True)


def _worker(args) -> None:
    from workers.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    models = [m for m in (args.models or "").split(",") if m]
    queues = [q for q in (args.queues or "").split(",") if q]
    if not models and not queues:
        models = [settings.default_model]
    run_worker(settings, models, queues, burst=args.burst)


def _wait_http(url: str, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout_s}s")


class Stack:
    """Embedded Redis (unless T2V_REDIS_URL is set), one worker for the default model, an expand
    worker when an LLM is configured, the API."""

    def __init__(self, host: str, port: int, data_dir: Path):
        self.host, self.port, self.data_dir = host, port, data_dir.resolve()
        self.redis = None
        self.children: list[subprocess.Popen] = []

    def start(self) -> str:
        from app.embedded_redis import EmbeddedRedis
        from app.expansion.plan import llm_configured

        env = dict(os.environ, T2V_DATA_DIR=str(self.data_dir))
        if not env.get("T2V_REDIS_URL"):
            self.redis = EmbeddedRedis(self.data_dir / "redis").start()
            env["T2V_REDIS_URL"] = self.redis.url
            print(f"redis: embedded valkey on {self.redis.url} (AOF in {self.redis.data_dir})", flush=True)
        self._refuse_open_network(env["T2V_REDIS_URL"])
        t2v = [sys.executable, "-m", "app.cli"]
        self.children.append(subprocess.Popen([*t2v, "worker"], env=env))
        if llm_configured(get_settings()):
            # Prompt expansion waits on the LLM in its own CPU worker, never in the render worker.
            self.children.append(subprocess.Popen([*t2v, "worker", "--queues", "expand"], env=env))
        if get_settings().webhook_secret:
            # Webhook deliveries (and their scheduled retries) run in their own CPU worker.
            self.children.append(subprocess.Popen([*t2v, "worker", "--queues", "notify"], env=env))
        self.children.append(subprocess.Popen([*t2v, "api", "--host", self.host, "--port", str(self.port)], env=env))
        base = f"http://{self.host}:{self.port}"
        _wait_http(f"{base}/healthz", 60)
        print(f"api: {base}/v1 (docs at {base}/docs)", flush=True)
        return base

    def _refuse_open_network(self, redis_url: str) -> None:
        # Before anything else starts; the API process itself prints the open-server warning.
        from redis import Redis

        from app.auth import OpenNetworkRefused, check_exposure

        try:
            check_exposure(self.host, Redis.from_url(redis_url), get_settings().allow_open_network)
        except OpenNetworkRefused as exc:
            sys.exit(f"t2v: {exc}")

    def wait_for_worker(self, base: str, timeout_s: float = 300) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ready = httpx.get(f"{base}/readyz", timeout=2).json()
            if any(m["live"] for m in ready.get("models", {}).values()):
                return
            if any(c.poll() is not None for c in self.children):
                raise RuntimeError("a child process exited during start-up")
            time.sleep(0.5)
        raise TimeoutError("no worker became ready")

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in self.children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        if self.redis:
            self.redis.stop()


def _up(args) -> None:
    settings = get_settings()
    stack = Stack(args.host or settings.api_host, args.port or settings.api_port, args.data_dir or settings.data_dir)
    try:
        base = stack.start()
        stack.wait_for_worker(base)
        print("ready: Ctrl-C stops everything", flush=True)
        while all(c.poll() is None for c in stack.children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


def _new_webhook_secret(args) -> None:
    from app.webhooks.signing import new_secret

    print(new_secret())


def _demo(args) -> None:
    """Start the stack, generate one video with the openai SDK, print where it is, stop."""
    from app.demo import generate_sample

    settings = get_settings()
    from app.embedded_redis import free_port

    stack = Stack("127.0.0.1", free_port(), args.data_dir or settings.data_dir)
    try:
        base = stack.start()
        stack.wait_for_worker(base)
        generate_sample(base, args.prompt, Path(args.out))
    finally:
        stack.stop()


def _keys(args) -> None:
    from app.auth import create_key, list_keys, revoke_key
    from app.redis_conn import connect

    redis = connect(get_settings())
    if args.keys_command == "create":
        try:
            key_id, key = create_key(redis, args.name, args.tenant or args.name)
        except ValueError as exc:
            hint = "" if args.tenant else " (the tenant defaults to --name; pass --tenant)"
            sys.exit(f"t2v keys create: {exc}{hint}")
        print(f"created key {key_id} for tenant {args.tenant or args.name}; it is shown only now:", file=sys.stderr)
        # Alone on the last line of stdout, so scripts can take it with `tail -n 1`.
        print(key, flush=True)
    elif args.keys_command == "revoke":
        if not revoke_key(redis, args.key_id):
            sys.exit(f"t2v keys revoke: no active key {args.key_id!r}")
        print(f"revoked key {args.key_id}")
    else:
        print(f"{'ID':<16}  {'TENANT':<20}  {'CREATED (UTC)':<19}  {'REVOKED (UTC)':<19}  NAME")
        for key in list_keys(redis):
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(key["created_at"]))
            revoked = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(key["revoked_at"])) if key["revoked_at"] else "-"
            print(f"{key['id']:<16}  {key['tenant']:<20}  {created:<19}  {revoked:<19}  {key['name']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="t2v", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run Redis (embedded), a worker and the API on this machine")
    up.add_argument("--host")
    up.add_argument("--port", type=int)
    up.add_argument("--data-dir", type=Path)
    up.set_defaults(run=_up)

    api = sub.add_parser("api", help="run the API server")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.add_argument(
        "--workers", type=int, default=1, help="server processes sharing the port (each has its own threads)"
    )
    api.set_defaults(run=_api)

    worker = sub.add_parser("worker", help="run a worker")
    worker.add_argument("--models", help="comma-separated catalog names to load and render")
    worker.add_argument("--queues", help="extra CPU queues to serve, e.g. expand,notify")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.set_defaults(run=_worker)

    demo = sub.add_parser("demo", help="start everything, generate one sample video, stop")
    demo.add_argument("--prompt", default="a red circle moving right")
    demo.add_argument("--out", default="data/samples")
    demo.add_argument("--data-dir", type=Path)
    demo.set_defaults(run=_demo)

    webhooks = sub.add_parser("webhooks", help="webhook helpers")
    webhooks_sub = webhooks.add_subparsers(dest="webhooks_command", required=True)
    secret = webhooks_sub.add_parser("secret", help="print a new signing secret for T2V_WEBHOOK_SECRET")
    secret.set_defaults(run=_new_webhook_secret)

    keys = sub.add_parser("keys", help="API keys: with one, the API needs `Authorization: Bearer <key>`")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="make a key and print it (once, as the last line)")
    create.add_argument("--name", required=True, help="what the key is for, e.g. who holds it")
    create.add_argument("--tenant", help="whose videos the key sees (default: the name)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key; it stops working at once")
    revoke.add_argument("key_id")
    keys_sub.add_parser("list", help="list keys (never their secrets)")
    keys.set_defaults(run=_keys)

    add_client_commands(sub)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
