"""Generate one sample through the public API with the official openai client."""

import warnings
from pathlib import Path

from openai import OpenAI


def generate_sample(base_url: str, prompt: str, out_dir: Path) -> Path:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    client = OpenAI(base_url=f"{base_url}/v1", api_key="local")
    print(f"generating: {prompt!r}", flush=True)
    video = client.videos.create_and_poll(prompt=prompt, seconds="2", poll_interval_ms=200)
    if video.status != "completed":
        raise SystemExit(f"generation {video.status}: {video.error}")
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{video.id}.mp4"
    client.videos.download_content(video.id).write_to_file(target)
    sheet = out_dir / f"{video.id}-contact-sheet.jpg"
    client.videos.download_content(video.id, variant="spritesheet").write_to_file(sheet)
    extra = video.model_extra or {}
    print(f"video:         {target}", flush=True)
    print(f"contact sheet: {sheet}", flush=True)
    print(
        f"model {video.model}, {video.size}, {extra.get('num_frames')} frames at {extra.get('fps')} fps, "
        f"seed {extra.get('seed')}, timings {extra.get('timings')}",
        flush=True,
    )
    return target
