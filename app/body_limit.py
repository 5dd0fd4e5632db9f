"""Refuse request bodies over T2V_MAX_BODY_BYTES with 413, before they are parsed.

A declared Content-Length over the limit is refused without reading anything. A body without one
(chunked) or one that lies about its length is counted as it streams in: once the count passes the
limit, reading fails and whatever response the app was about to send is replaced by the 413, so
no parser, handler or error handler in between can turn it into something else.
"""

import json

from app.errors import PayloadTooLarge, envelope


# Paths (under / and /v1) whose POST bodies may carry uploaded images and videos.
UPLOAD_PATHS = ("/videos", "/videos/edits", "/videos/extensions", "/videos/characters")


class BodyTooLarge(Exception):
    """Raised from `receive` once the streamed body passes the limit."""


async def _send_413(send, max_bytes: int) -> None:
    error = PayloadTooLarge(f"request body is larger than the limit of {max_bytes} bytes")
    payload = json.dumps(envelope(error.message, error.error_type, error.param, error.code)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                # The rest of the body is never read; the client must not reuse this connection.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _declared_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    """Pure ASGI middleware (no per-request overhead beyond a header scan for small bodies)."""

    def __init__(self, app, max_bytes: int, upload_max_bytes: int | None = None):
        self.app, self.max_bytes = app, max_bytes
        self.upload_max_bytes = max(upload_max_bytes or max_bytes, max_bytes)

    def _limit_for(self, scope) -> int:
        # Routes that take images and videos get the upload limit; app/inputs caps each input again.
        if scope.get("method") == "POST" and scope.get("path", "").rstrip("/").endswith(UPLOAD_PATHS):
            return self.upload_max_bytes
        return self.max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        max_bytes = self._limit_for(scope)
        declared = _declared_length(scope)
        if declared is not None and declared > max_bytes:
            return await _send_413(send, max_bytes)

        received = 0
        over = False
        response_started = False

        async def counting_receive():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    over = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message):
            nonlocal response_started
            if over:
                # The app answered a body it could not finish reading; the 413 goes out instead.
                if message["type"] == "http.response.start" and not response_started:
                    response_started = True
                    await _send_413(send, max_bytes)
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            if not response_started:
                await _send_413(send, max_bytes)
