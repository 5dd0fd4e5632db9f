"""API errors, each mapped to an HTTP status and OpenAI's error envelope.

ApiError                      base: status, type, code, param
├── InvalidRequest            400 invalid_request_error: a value the model can't take
├── Unauthorized              401 invalid_request_error: missing, unknown or revoked API key
├── NotFound                  404 invalid_request_error: unknown (or someone else's) id
├── Conflict                  409 invalid_request_error: e.g. content not ready yet
├── Gone                      410 invalid_request_error: content expired
├── PayloadTooLarge           413 invalid_request_error: body over T2V_MAX_BODY_BYTES
├── RateLimited               429 rate_limit_exceeded: a tenant limit (sends retry-after)
└── ServiceUnavailable        503 server_error: Redis unreachable (sends retry-after)
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    status_code = 500
    error_type = "server_error"
    default_code: str | None = None
    headers: dict[str, str] = {}

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code or self.default_code


class InvalidRequest(ApiError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid_value"


class NotFound(ApiError):
    status_code = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class Conflict(ApiError):
    status_code = 409
    error_type = "invalid_request_error"
    default_code = "conflict"
    # The openai client retries 409s; a retry cannot make content appear sooner.
    headers = {"x-should-retry": "false"}


class Unauthorized(ApiError):
    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"
    headers = {"www-authenticate": "Bearer"}


class PayloadTooLarge(ApiError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimited(ApiError):
    status_code = 429
    error_type = "rate_limit_exceeded"
    default_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None):
        super().__init__(message, code=code)
        # Whole seconds, at least one: the openai client waits this long before its retry.
        self.headers = {"retry-after": str(max(1, int(retry_after_s)))}


class Gone(ApiError):
    status_code = 410
    error_type = "invalid_request_error"
    default_code = "expired"


class ServiceUnavailable(ApiError):
    status_code = 503
    error_type = "server_error"
    default_code = "service_unavailable"
    headers = {"retry-after": "2"}


def envelope(message: str, error_type: str, param: str | None, code: str | None) -> dict:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(
        envelope(exc.message, exc.error_type, exc.param, exc.code),
        status_code=exc.status_code,
        headers=exc.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError):
        return error_response(exc)

    @app.exception_handler(RedisError)
    async def _redis_down(_: Request, exc: RedisError):
        return error_response(ServiceUnavailable(f"The queue store is unreachable: {type(exc).__name__}"))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
        message = f"{'.'.join(loc) or 'request'}: {first.get('msg', 'invalid value')}"
        return error_response(InvalidRequest(message, param=".".join(loc) or None))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        error_type = "invalid_request_error" if exc.status_code < 500 else "server_error"
        return JSONResponse(
            envelope(str(exc.detail), error_type, None, None), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception):
        # Never a stack trace on the wire; the log has it.
        return JSONResponse(envelope("Internal server error", "server_error", None, "internal_error"), status_code=500)
