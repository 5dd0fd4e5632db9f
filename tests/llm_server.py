"""A stand-in for an OpenAI-compatible LLM: a real HTTP server on 127.0.0.1 speaking
`POST /v1/chat/completions`, with the failure modes real ones have.

    server = FakeLLM().start()
    server.mode = "slow"              # good | slow | error_500 | rate_limited | garbage | reply
    server.reply = '{"pwned": true}'  # what "reply" mode answers (and "good" when set)
    server.calls                      # the request bodies received, in order
    server.authorizations             # their Authorization headers

`rate_limited` answers 429 with `retry-after: server.retry_after_s` for the first
`server.rate_limit_count` calls, then answers like "good".
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


MODES = ("good", "slow", "error_500", "rate_limited", "garbage", "reply")


def good_caption(user_text: str) -> str:
    """What a well-behaved model makes of the request: its words, plus visual detail."""
    request = user_text.split("<request>")[-1].split("</request>")[0].strip()
    return (
        f"{request}. The scene is lit by soft golden evening light with gentle shadows, "
        "rendered in rich natural colour. Medium shot at eye level, the camera slowly dollies in."
    )


class FakeLLM:
    def __init__(self):
        self.mode = "good"
        self.reply: str | None = None
        self.delay_s = 5.0
        self.retry_after_s = 1
        self.rate_limit_count = 1
        # What the answer's choice carries besides the content (a structured refusal, a cut-off).
        self.refusal: str | None = None
        self.finish_reason = "stop"
        self.calls: list[dict] = []
        # The Authorization header of each call, in the same order.
        self.authorizations: list[str | None] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # Slow handlers must not keep the test process alive or block shutdown.
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "FakeLLM":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self, mode: str = "good", reply: str | None = None) -> None:
        assert mode in MODES, mode
        with self._lock:
            self.mode, self.reply = mode, reply
            self.refusal, self.finish_reason = None, "stop"
            self.calls.clear()
            self.authorizations.clear()

    def calls_for(self, prompt: str) -> list[dict]:
        """The requests whose user message carries `prompt`."""
        with self._lock:
            return [c for c in self.calls if prompt in c["messages"][-1]["content"]]

    def _record(self, body: dict, authorization: str | None) -> int:
        with self._lock:
            self.calls.append(body)
            self.authorizations.append(authorization)
            return len(self.calls)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): exactly what "slow" is for

            def _error(self, status: int, message: str, kind: str, headers=None) -> None:
                body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
                self._send(status, json.dumps(body).encode(), headers)

            def do_POST(self):
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._error(404, f"no route {self.path}", "invalid_request_error")
                    return
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                number = fake._record(body, self.headers.get("authorization"))
                mode = fake.mode
                if mode == "slow":
                    time.sleep(fake.delay_s)
                elif mode == "error_500":
                    self._error(500, "The server had an error while processing your request.", "server_error")
                    return
                elif mode == "rate_limited" and number <= fake.rate_limit_count:
                    headers = {"retry-after": str(fake.retry_after_s)}
                    self._error(429, "Rate limit reached, try again later.", "requests", headers)
                    return
                elif mode == "garbage":
                    self._send(200, b'{"id": "chatcmpl-1", "choices": [{"message": ')
                    return
                content = fake.reply if fake.reply is not None else good_caption(body["messages"][-1]["content"])
                completion = {
                    "id": f"chatcmpl-{number}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "fake"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content, "refusal": fake.refusal},
                            "finish_reason": fake.finish_reason,
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                }
                self._send(200, json.dumps(completion).encode())

        return Handler
