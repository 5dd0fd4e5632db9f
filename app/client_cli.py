"""`t2v generate` and `t2v videos ...`: the API from a terminal, with a live progress bar.

A client of the public HTTP API like any other (it imports nothing of the server): creates the
video, follows its event stream (`GET /v1/videos/{id}/events`, resuming with `Last-Event-ID`
when the connection drops), draws the phase, step and ETA with rich, and downloads the MP4.
`--json` prints one JSON document instead, for scripts.
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


FINAL = ("completed", "failed", "cancelled")
# A dropped stream is resumed this many times in a row before giving up.
RECONNECTS = 5


class ApiFailure(Exception):
    """The API refused (its own message) or could not be reached."""


def default_server() -> str:
    """$T2V_SERVER, else the API a running `t2v up` recorded in the data directory, else this
    machine's API on the configured port."""
    from app import redis_address
    from app.settings import get_settings

    settings = get_settings()
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::") else settings.api_host
    recorded = redis_address.recorded(settings.data_dir, redis_address.API_RECORD_NAME)
    return os.environ.get("T2V_SERVER") or recorded or f"http://{host}:{settings.api_port}"


class Client:
    def __init__(self, server: str, api_key: str | None):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=server.rstrip("/") + "/v1", headers=headers, timeout=30)

    def call(self, method: str, path: str, **kwargs) -> dict:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiFailure(f"cannot reach {self.http.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise ApiFailure(_message(response))
        return response.json()

    def download(self, video_id: str, target: Path, variant: str = "video") -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        try:
            with self.http.stream("GET", f"/videos/{video_id}/content", params={"variant": variant}) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiFailure(_message(response))
                with partial.open("wb") as file:
                    for chunk in response.iter_bytes():
                        file.write(chunk)
        except httpx.HTTPError as exc:
            raise ApiFailure(f"download of {video_id} failed: {exc}") from None
        partial.replace(target)
        return target

    def events(self, video_id: str) -> Iterator[tuple[str, dict]]:
        """(type, data) of each event until the final one, resuming where a dropped stream was."""
        last_id, failures = None, 0
        while True:
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                with self.http.stream(
                    "GET", f"/videos/{video_id}/events", headers=headers, timeout=httpx.Timeout(30, read=60)
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise ApiFailure(_message(response))
                    for event_id, kind, data in parse_sse(response.iter_lines()):
                        failures = 0
                        last_id = event_id or last_id
                        yield kind, data
                        if kind in FINAL:
                            return
            except httpx.HTTPError as exc:
                failures += 1
                if failures > RECONNECTS:
                    raise ApiFailure(f"the event stream of {video_id} keeps failing: {exc}") from None
                time.sleep(min(2**failures / 4, 5))


def _message(response: httpx.Response) -> str:
    try:
        return response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


def parse_sse(lines) -> Iterator[tuple[str | None, str, dict]]:
    """(id, type, data) of each event in `text/event-stream` lines; comments are skipped."""
    event_id, kind, data = None, "message", []
    for line in lines:
        if not line:
            if data:
                yield event_id, kind, json.loads("\n".join(data))
            event_id, kind, data = None, "message", []
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "event":
                kind = value
            elif name == "id":
                event_id = value


# --- t2v generate ---------------------------------------------------------------------------------


def _phase(kind: str, data: dict) -> str:
    if kind == "queued":
        position = data.get("queue_position")
        return f"queued (position {position})" if position else "queued"
    if kind == "expanding":
        return "prompt rewritten" if data.get("done") else "rewriting the prompt"
    if kind == "loading":
        return "loading the model"
    if kind == "progress":
        chunk = f", chunk {data['chunk']}/{data['chunks']}" if data["chunks"] > 1 else ""
        return f"{data['phase']} step {data['step']}/{data['steps']}{chunk}"
    return kind


def _eta(data: dict) -> str:
    eta = data.get("eta_s")
    if eta is None:
        return ""
    minutes, seconds = divmod(round(eta), 60)
    return f"ETA {minutes}:{seconds:02d}"


def _follow_with_bar(client: Client, video_id: str) -> tuple[str, dict]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn

    console = Console(stderr=True)
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[eta]}"),
    )
    final = ("failed", {})
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("queued", total=100, eta="")
        for kind, data in client.events(video_id):
            if kind == "progress":
                progress.update(task, completed=data["percent"], description=_phase(kind, data), eta=_eta(data))
            elif kind == "preview":
                continue
            elif kind in FINAL:
                done = 100 if kind == "completed" else progress.tasks[0].completed
                progress.update(task, completed=done, description=kind, eta="")
                final = (kind, data)
            else:
                progress.update(task, description=_phase(kind, data))
    return final


def _follow_quietly(client: Client, video_id: str) -> tuple[str, dict]:
    for kind, data in client.events(video_id):
        if kind in FINAL:
            return kind, data
    return "failed", {}


def _generate(args) -> None:
    client = Client(args.server, args.api_key)
    fields = {"prompt": args.prompt}
    for name in ("model", "seconds", "size", "seed"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.image:
        image = Path(args.image)
        if not image.is_file():
            raise ApiFailure(f"no such image file: {image}")
        # With a file: multipart, as the openai SDK sends it.
        files = {"input_reference": (image.name, image.read_bytes(), _image_type(image))}
        video = client.call("POST", "/videos", data={k: str(v) for k, v in fields.items()}, files=files)
    else:
        video = client.call("POST", "/videos", json=fields)
    if not args.json:
        print(f"{video['id']}: {video['model']}, {video['size']}, {video['seconds']} s", file=sys.stderr)
    follow = _follow_quietly if args.json or not sys.stderr.isatty() else _follow_with_bar
    kind, data = follow(client, video["id"])
    video = data.get("video") or client.call("GET", f"/videos/{video['id']}")
    if kind != "completed":
        error = (video.get("error") or {}).get("message") or f"the video ended {kind}"
        _print_json({"video": video, "path": None}) if args.json else print(f"t2v: {error}", file=sys.stderr)
        sys.exit(1)
    path = client.download(video["id"], Path(args.output or f"{video['id']}.mp4"))
    if args.json:
        _print_json({"video": video, "path": str(path.resolve())})
    else:
        print(path)


def _image_type(path: Path) -> str:
    return {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}.get(path.suffix.lower(), "image/png")


def _print_json(value) -> None:
    print(json.dumps(value, indent=2))


# --- t2v videos ... ---------------------------------------------------------------------------------


def _videos(args) -> None:
    client = Client(args.server, args.api_key)
    command = args.videos_command
    if command == "list":
        listing = client.call("GET", "/videos", params={"limit": args.limit})
        if args.json:
            return _print_json(listing)
        from rich.console import Console
        from rich.table import Table

        table = Table(box=None)
        # Ids are what the other commands take: never shortened.
        table.add_column("ID", no_wrap=True, min_width=len("video_") + 32)
        for name in ("STATUS", "PROGRESS", "MODEL", "SIZE", "SECONDS"):
            table.add_column(name, no_wrap=True)
        table.add_column("PROMPT", no_wrap=True, overflow="ellipsis")
        for video in listing["data"]:
            prompt = video["prompt"] if len(video["prompt"]) <= 40 else video["prompt"][:39] + "…"
            table.add_row(
                video["id"],
                video["status"],
                f"{video['progress']}%",
                video["model"],
                video["size"],
                video["seconds"],
                prompt,
            )
        Console().print(table)
    elif command == "show":
        _print_json(client.call("GET", f"/videos/{args.video_id}"))
    elif command == "cancel":
        video = client.call("POST", f"/videos/{args.video_id}/cancel")
        _print_json(video) if args.json else print(f"{video['id']}: {video['status']}")
    elif command == "delete":
        result = client.call("DELETE", f"/videos/{args.video_id}")
        _print_json(result) if args.json else print(f"{result['id']}: deleted")
    elif command == "download":
        suffix = {"video": "mp4", "thumbnail": "webp", "spritesheet": "jpg", "preview": "jpg"}[args.variant]
        target = Path(args.output or f"{args.video_id}.{suffix}")
        path = client.download(args.video_id, target, args.variant)
        _print_json({"id": args.video_id, "path": str(path.resolve())}) if args.json else print(path)


def _run(handler):
    def run(args) -> None:
        try:
            handler(args)
        except ApiFailure as exc:
            sys.exit(f"t2v: {exc}")
        except KeyboardInterrupt:
            sys.exit(130)

    return run


def _client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        default=None,
        help="the API's address (default: $T2V_SERVER, else the one a running `t2v up` recorded, else this machine's API)",
    )
    parser.add_argument("--api-key", default=os.environ.get("T2V_API_KEY"), help="an API key (default: $T2V_API_KEY)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of text")


def add_commands(sub) -> None:
    """Register `generate` and `videos` on the `t2v` command line."""
    generate = sub.add_parser("generate", help="make a video and watch it render (progress bar), then download it")
    generate.add_argument("prompt")
    generate.add_argument("--model")
    generate.add_argument("--seconds")
    generate.add_argument("--size", help="WIDTHxHEIGHT")
    generate.add_argument("--image", help="an image file for the first frame")
    generate.add_argument("--seed", type=int)
    generate.add_argument("-o", "--output", help="where to save the MP4 (default: <video id>.mp4)")
    _client_options(generate)
    generate.set_defaults(run=_with_server(_run(_generate)))

    videos = sub.add_parser("videos", help="list, show, cancel, delete or download videos")
    videos_sub = videos.add_subparsers(dest="videos_command", required=True)
    listing = videos_sub.add_parser("list", help="the newest videos")
    listing.add_argument("--limit", type=int, default=20)
    _client_options(listing)
    for name, help_text in (
        ("show", "one video's JSON"),
        ("cancel", "stop a queued or running video"),
        ("delete", "delete a video and its files"),
        ("download", "save a video's file"),
    ):
        command = videos_sub.add_parser(name, help=help_text)
        command.add_argument("video_id")
        if name == "download":
            command.add_argument("-o", "--output")
            command.add_argument("--variant", default="video", choices=["video", "thumbnail", "spritesheet", "preview"])
        _client_options(command)
    videos.set_defaults(run=_with_server(_run(_videos)))


def _with_server(handler):
    def run(args) -> None:
        args.server = args.server or default_server()
        handler(args)

    return run
