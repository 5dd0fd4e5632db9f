"""A real webhook receiver on 127.0.0.1 for tests, with the failure modes receivers have.

The first path segment picks the behaviour, the rest is a tag so each test has its own counters:

    /ok/<tag>            200
    /fail-twice/<tag>    500, 500, then 200
    /hang/<tag>          holds the request without answering (until `close()`)
    /redirect/<tag>      302 to /landed/<tag> on this receiver (a follower would show up there)
    /gone/<tag>          410 Gone
    /busy/<tag>?retry_after=N   429 with `retry-after: N` the first time, then 200

Every request is recorded with its headers (lower-cased), body and arrival time. Given an SSL
context it serves https instead.
"""

import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class WebhookReceiver:
    def __init__(self, hang_s: float = 60.0, tls: ssl.SSLContext | None = None):
        self.received: list[Received] = []
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.hang_s = hang_s
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    def start(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def url(self, mode: str, tag: str, query: str = "") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/{mode}/{tag}" + (f"?{query}" if query else "")

    def requests_to(self, mode: str, tag: str) -> list[Received]:
        path = f"/{mode}/{tag}"
        with self.lock:
            return [r for r in self.received if urlsplit(r.path).path == path]

    def _record(self, handler: BaseHTTPRequestHandler) -> int:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        path = urlsplit(handler.path).path
        with self.lock:
            self.received.append(Received(handler.path, headers, body, time.time()))
            self.hits[path] = self.hits.get(path, 0) + 1
            return self.hits[path]

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _answer(self, code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
                self.send_response(code)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                hit = receiver._record(self)
                parts = urlsplit(self.path)
                mode, _, tag = parts.path.lstrip("/").partition("/")
                if mode == "ok":
                    self._answer(200, body=b"thanks")
                elif mode == "fail-twice":
                    self._answer(500 if hit <= 2 else 200, body=b"not yet" if hit <= 2 else b"ok")
                elif mode == "hang":
                    receiver.closing.wait(receiver.hang_s)
                elif mode == "redirect":
                    self._answer(302, {"location": f"http://127.0.0.1:{receiver.port}/landed/{tag}"})
                elif mode == "gone":
                    self._answer(410, body=b"this endpoint is gone")
                elif mode == "busy":
                    retry_after = parse_qs(parts.query).get("retry_after", ["1"])[0]
                    if hit == 1:
                        self._answer(429, {"retry-after": retry_after}, b"slow down")
                    else:
                        self._answer(200, body=b"ok")
                else:
                    self._answer(404, body=b"no such mode")

        return Handler
