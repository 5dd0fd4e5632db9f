"""`t2v`: run the API, workers, or the whole stack on one machine."""

import argparse
import logging
import os
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
    if not args.verbose:
        # diffusers and transformers warn on every render about what the family rules already
        # settle (e.g. "`num_frames - 1` has to be divisible by 1"); `-v` shows them.
        os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from workers.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    models = [m for m in (args.models or "").split(",") if m]
    queues = [q for q in (args.queues or "").split(",") if q]
    if not models and not queues:
        models = [settings.default_model]
    run_worker(settings, models, queues, burst=args.burst)
    # Stopped cleanly: jobs handed back, the worker retired, the log written. The interpreter's
    # own teardown of torch takes seconds more on a busy CPU (3-5 s measured on 2 cores), which
    # is most of what a Ctrl-C on `t2v up` would wait for, with nothing left to save.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _up(args) -> None:
    from app.stack import Stack, stop_on_termination

    settings = get_settings()
    stop_on_termination()
    host, port = args.host or settings.api_host, args.port or settings.api_port
    stack = Stack(host, port, args.data_dir or settings.data_dir, args.verbose, say=_say)
    child_died = False
    try:
        stack.start()
        stack.wait_for_worker()
        _say(f"ready in {time.monotonic() - stack.started:.1f} s; Ctrl-C stops everything")
        stack.watch()
        child_died = True
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    if child_died:
        sys.exit(1)


def _say(line: str) -> None:
    print(line, flush=True)


def _new_webhook_secret(args) -> None:
    from app.webhooks.signing import new_secret

    print(new_secret())


def _demo(args) -> None:
    """Start the stack, generate one video with the openai SDK, print where it is, stop."""
    from app.demo import run_demo

    run_demo(args.prompt, Path(args.out), args.data_dir or get_settings().data_dir, args.verbose)


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
        keys = list_keys(redis)
        print(f"{'ID':<16}  {'TENANT':<20}  {'CREATED (UTC)':<19}  {'REVOKED (UTC)':<19}  NAME")
        for key in keys:
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
    up.add_argument("-v", "--verbose", action="store_true", help="show every process's log here")
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
    worker.add_argument("-v", "--verbose", action="store_true", help="keep diffusers' warnings")
    worker.set_defaults(run=_worker)

    demo = sub.add_parser("demo", help="start everything, generate one sample video, stop")
    demo.add_argument("--prompt", default="a red circle moving right")
    demo.add_argument("--out", default="data/samples")
    demo.add_argument("--data-dir", type=Path)
    demo.add_argument("-v", "--verbose", action="store_true", help="show every process's log here")
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
    _run(args)


def _run(args) -> None:
    """The command, with the failures a user can fix said in one line (no traceback)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from app.redis_address import unreachable_message
    from app.stack import StackFailed

    try:
        args.run(args)
    except (RedisConnectionError, RedisTimeoutError):
        sys.exit(f"t2v {args.command}: {unreachable_message(get_settings())}")
    except StackFailed as exc:
        sys.exit(f"t2v {args.command}: {exc}")
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
