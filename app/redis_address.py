"""Which Redis a process talks to: `T2V_REDIS_URL`, else the one `t2v up` runs, else the default.

`t2v up` starts its embedded Valkey on a free port and writes the URL to `<data dir>/redis.url`
for as long as it runs, so `t2v keys create` in a second terminal (or a `t2v api` or `t2v worker`
started by hand with the same data directory) reaches the same server without being told. It
records its API's address the same way (`api.url`), for `t2v generate` and `t2v videos`.
"""

import os
from pathlib import Path

from app.settings import Settings


# Where nothing else says: a Redis on this machine's standard port.
DEFAULT_URL = "redis://127.0.0.1:6379/0"
RECORD_NAME = "redis.url"
API_RECORD_NAME = "api.url"


def record_path(data_dir: Path, name: str = RECORD_NAME) -> Path:
    return Path(data_dir) / name


def record(data_dir: Path, url: str, name: str = RECORD_NAME) -> None:
    """Publish `url` as the running stack's Redis (or API: `name`), written whole: a reader never
    sees half."""
    path = record_path(data_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{name}.{os.getpid()}")
    partial.write_text(url + "\n")
    partial.replace(path)


def forget(data_dir: Path, url: str, name: str = RECORD_NAME) -> None:
    """Withdraw the record, unless another stack has replaced it since."""
    if recorded(data_dir, name) == url:
        record_path(data_dir, name).unlink(missing_ok=True)


def recorded(data_dir: Path, name: str = RECORD_NAME) -> str | None:
    try:
        return record_path(data_dir, name).read_text().strip() or None
    except OSError:
        return None


def redis_url(settings: Settings) -> str:
    return settings.redis_url or recorded(settings.data_dir) or DEFAULT_URL


def unreachable_message(settings: Settings) -> str:
    """One line for a command that found no Redis: where it looked and how to get one."""
    url = redis_url(settings)
    if settings.redis_sentinels:
        where = f"no Redis primary is reachable through the sentinels {settings.redis_sentinels}"
    elif settings.redis_url:
        where = f"no Redis answers at {url} (T2V_REDIS_URL)"
    elif url != DEFAULT_URL:
        where = (
            f"no Redis answers at {url}, recorded in {record_path(settings.data_dir)} by a `t2v up` that has stopped"
        )
    else:
        where = f"no Redis answers at {url} and no `t2v up` runs with the data directory {settings.data_dir}"
    return f"{where}: start the stack with `t2v up` (in another terminal), or set T2V_REDIS_URL"
