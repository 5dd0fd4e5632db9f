"""One delivery attempt: check the URL, sign, POST to the checked address, classify the answer.

    httpx.HTTPError
    ├── httpx.TimeoutException      connect/read/write took longer than the timeout: retry
    ├── httpx.TransportError        refused, reset, TLS failure: retry
    └── (others)                    treated like transport errors: retry

Only a 2xx counts. Redirects are not followed (a 3xx is a failure: following one would let a
receiver point us at an address nobody checked). 410 Gone disables the endpoint. A 429 or 503
may ask for a later retry with `retry-after`. At most `response_cap_bytes` of the body is read.
"""

import email.utils
import os
import ssl
import time
from dataclasses import dataclass
from enum import StrEnum

import certifi
import httpx

from app.webhooks.config import WebhookConfig
from app.webhooks.signing import signature_headers
from app.webhooks.url_safety import Resolver, Target, UnresolvableHost, UnsafeUrl, check_url, system_resolver


USER_AGENT = "t2v-webhooks/1"
# A retry-after further out than this is capped: the receiver still gets its later attempts.
MAX_RETRY_AFTER_S = 24 * 3600


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GONE = "gone"
    REFUSED = "refused"


@dataclass(frozen=True)
class AttemptResult:
    outcome: Outcome
    status_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None
    response: str | None = None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`retry-after` as seconds from now: either delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _read_capped(response: httpx.Response, cap: int, timeout_s: float) -> str:
    """Up to `cap` bytes of the body, as sent (no decompression), for at most about `timeout_s`.

    The status decides the outcome, not the body: a slow or cut-off body does not undo a 2xx.
    """
    body = b""
    if cap <= 0:
        return ""
    deadline = time.monotonic() + timeout_s
    try:
        for chunk in response.iter_raw():
            body += chunk
            if len(body) >= cap or time.monotonic() > deadline:
                break
    except httpx.HTTPError:
        pass
    return body[:cap].decode("utf-8", "replace")


def _pinned_request(target: Target, headers: dict[str, str]) -> tuple[httpx.URL, dict, dict]:
    """The request URL with the checked address as host; Host header and TLS SNI keep the name.

    Connecting to `target.address` (not the name) closes the DNS-rebinding window: nothing
    resolves the name again between the check and the connection.
    """
    url = httpx.URL(target.url)
    pinned = url.copy_with(host=target.address)
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return pinned, {**headers, "host": url.netloc.decode()}, extensions


def tls_context() -> ssl.SSLContext:
    """Certificate checks for https receivers, against the host name in the URL.

    The client runs with trust_env=False (so no proxy from the environment can resolve the name
    again), which also stops httpx reading SSL_CERT_FILE / SSL_CERT_DIR; they are honoured here
    so receivers behind a private CA still verify.
    """
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    return ssl.create_default_context(cafile=certifi.where())


def send(
    url: str,
    message_id: str,
    payload: str,
    config: WebhookConfig,
    resolver: Resolver = system_resolver,
) -> AttemptResult:
    try:
        target = check_url(url, config.allow, resolver)
    except UnsafeUrl as exc:
        return AttemptResult(Outcome.REFUSED, error=str(exc))
    except UnresolvableHost as exc:
        return AttemptResult(Outcome.RETRY, error=str(exc))

    body = payload.encode()
    headers = {
        **signature_headers(message_id, int(time.time()), payload, config.secrets),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    request_url, headers, extensions = _pinned_request(target, headers)
    # trust_env=False: an HTTP(S)_PROXY from the environment would resolve the name itself.
    client = httpx.Client(timeout=config.timeout_s, follow_redirects=False, trust_env=False, verify=tls_context())
    with client:
        try:
            with client.stream("POST", request_url, content=body, headers=headers, extensions=extensions) as response:
                excerpt = _read_capped(response, config.response_cap_bytes, config.timeout_s)
        except httpx.TimeoutException:
            return AttemptResult(Outcome.RETRY, error=f"timed out after {config.timeout_s:g} s")
        except httpx.HTTPError as exc:
            return AttemptResult(Outcome.RETRY, error=f"{type(exc).__name__}: {exc}")

    code = response.status_code
    if 200 <= code < 300:
        return AttemptResult(Outcome.DELIVERED, status_code=code, response=excerpt)
    if code == 410:
        return AttemptResult(Outcome.GONE, status_code=code, error="410 Gone: endpoint disabled", response=excerpt)
    if 300 <= code < 400:
        error = f"{code} redirect to {response.headers.get('location', '?')!r} not followed"
    else:
        error = f"HTTP {code}"
    retry_after = parse_retry_after(response.headers.get("retry-after"), time.time()) if code in (429, 503) else None
    return AttemptResult(Outcome.RETRY, status_code=code, error=error, retry_after_s=retry_after, response=excerpt)
