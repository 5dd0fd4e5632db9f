"""`t2v demo` (what `make run` runs): start the stack, make one video through the public API with
the official openai client while a progress bar follows it, stop, and say where the files are."""

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from openai import OpenAI
from redis import Redis

from app.embedded_redis import free_port
from app.stack import Stack, stop_on_termination


# How often the progress bar asks for the video (the server's own `openai-poll-after-ms` is for
# clients that only wait; this one shows every step).
POLL_S = 0.2
# The video's `timings`, in the order they happen.
PHASES = ("queued", "expand", "load", "denoise", "decode", "encode")


@dataclass
class Sample:
    video: object  # openai.types.Video
    path: Path
    contact_sheet: Path
    seconds: float


def run_demo(prompt: str, out_dir: Path, data_dir: Path, verbose: bool = False) -> None:
    stack = Stack("127.0.0.1", free_port(), data_dir, verbose, say=_say)
    stop_on_termination()
    sample = None
    try:
        base = stack.start()
        stack.wait_for_worker()
        _say(f"ready in {time.monotonic() - stack.started:.1f} s")
        with _demo_key(stack.redis_url) as api_key:
            sample = generate_sample(base, api_key, prompt, out_dir)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    if sample is None:
        raise SystemExit(1)
    _report(prompt, sample)


class _demo_key:
    """The key the demo uses: any string while the server is open; a temporary key (revoked on
    the way out) when keys already exist in this data directory's Redis."""

    def __init__(self, redis_url: str):
        self.redis = Redis.from_url(redis_url)
        self.key_id = None

    def __enter__(self) -> str:
        from app.auth import create_key, keys_exist

        if not keys_exist(self.redis):
            return "local"
        self.key_id, key = create_key(self.redis, "t2v demo", "demo")
        return key

    def __exit__(self, *exc) -> None:
        from app.auth import revoke_key

        if self.key_id:
            revoke_key(self.redis, self.key_id)


def generate_sample(base_url: str, api_key: str, prompt: str, out_dir: Path) -> Sample | None:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    client = OpenAI(base_url=f"{base_url}/v1", api_key=api_key)
    started = time.monotonic()
    _say(f"generating {prompt!r}")
    video = client.videos.create(prompt=prompt, seconds="2")
    columns = (TextColumn("  {task.description:<11}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns) as bar:
        task = bar.add_task(video.status, total=100)
        while video.status in ("queued", "in_progress"):
            time.sleep(POLL_S)
            video = client.videos.retrieve(video.id)
            bar.update(task, completed=video.progress or 0, description=video.status)
    seconds = time.monotonic() - started
    if video.status != "completed":
        error = video.error.message if video.error else "no reason given"
        _say(f"the video {video.id} {video.status}: {error}")
        return None
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{video.id}.mp4"
    client.videos.download_content(video.id).write_to_file(path)
    sheet = out_dir / f"{video.id}-contact-sheet.jpg"
    client.videos.download_content(video.id, variant="spritesheet").write_to_file(sheet)
    return Sample(video, path, sheet, seconds)


def _report(prompt: str, sample: Sample) -> None:
    video, extra = sample.video, sample.video.model_extra or {}
    timings = extra.get("timings") or {}
    phases = ", ".join(f"{p} {timings[p]:.1f} s" for p in PHASES if (timings.get(p) or 0) >= 0.05)
    _say(
        f"made in {sample.seconds:.1f} s ({phases}): model {video.model}, {video.size}, "
        f"{extra.get('num_frames')} frames at {extra.get('fps')} fps, seed {extra.get('seed')}"
    )
    revised = extra.get("revised_prompt")
    if revised and revised != prompt:
        _say(f"  you asked:       {prompt!r}")
        _say(f"  model was asked: {revised!r}")
    else:
        _say(f"  model was asked: {prompt!r}")
    _say(f"  video:           {sample.path}")
    _say(f"  contact sheet:   {sample.contact_sheet}")


def _say(line: str) -> None:
    print(line, flush=True)
