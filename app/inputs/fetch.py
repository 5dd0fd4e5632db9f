"""`input_reference.image_url`: a `data:` URL, or an https URL fetched under the SSRF guard.

The URL's host is resolved once and checked like a webhook's (app/webhooks/url_safety.py); the
connection goes to the checked address (no second lookup to rebind), redirects are followed by
hand and each hop is checked again. One deadline covers the whole fetch, so a server that
answers slowly costs a 400, not a hung request. Plain http is only for allow-listed hosts.
"""

import base64
import binascii
import time
from urllib.parse import unquote_to_bytes, urljoin

import httpx

from app.errors import InvalidRequest, PayloadTooLarge
from app.webhooks.sender import _pinned_request, tls_context
from app.webhooks.url_safety import AllowList, UnresolvableHost, UnsafeUrl, check_url


MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024


def _refuse(param: str, message: str, code: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {message}", param=param, code=code)


def _too_large(param: str, max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"{param}: the image is larger than {max_bytes} bytes", param=param, code="image_too_large")


def read_data_url(url: str, param: str, max_bytes: int) -> bytes:
    header, sep, payload = url.partition(",")
    if not sep:
        raise _refuse(param, "a data: URL needs a comma before its data", "invalid_image_url")
    mime, *options = header[len("data:") :].split(";")
    if not mime.lower().startswith("image/"):
        raise _refuse(param, f"a data: URL must hold an image, not {mime or 'text/plain'}", "invalid_image_url")
    # Base64 grows data by 4/3: refuse before decoding what cannot fit.
    if len(payload) > max_bytes * 4 // 3 + 4:
        raise _too_large(param, max_bytes)
    try:
        data = base64.b64decode(payload, validate=True) if "base64" in options else unquote_to_bytes(payload)
    except (binascii.Error, ValueError) as exc:
        raise _refuse(param, f"the data: URL is not valid base64: {exc}", "invalid_image_url") from None
    if len(data) > max_bytes:
        raise _too_large(param, max_bytes)
    return data


def _safe_message(exc: UnsafeUrl) -> str:
    # The guard speaks of webhooks; here the same rule applies to images.
    return str(exc).replace("webhook_url", "image_url").replace("webhooks only go to", "images are only fetched from")


def fetch_image_url(url: str, param: str, *, max_bytes: int, timeout_s: float, allow: AllowList) -> bytes:
    """The bytes behind `url` (an image content type, at most `max_bytes`)."""
    if not isinstance(url, str) or not url:
        raise _refuse(param, "must be an https URL or a data: URL", "invalid_image_url")
    if url[:5].lower() == "data:":
        return read_data_url(url, param, max_bytes)
    deadline = time.monotonic() + timeout_s
    try:
        with httpx.Client(follow_redirects=False, trust_env=False, verify=tls_context()) as client:
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    target = check_url(url, allow)
                except UnsafeUrl as exc:
                    raise _refuse(param, _safe_message(exc), "image_url_forbidden") from None
                except UnresolvableHost as exc:
                    raise _refuse(param, str(exc), "image_url_unreachable") from None
                if target.scheme != "https" and not (allow.allows_host(target.host) or _allowed_address(allow, target)):
                    raise _refuse(param, "must use https (or be a data: URL)", "image_url_forbidden")
                request_url, headers, extensions = _pinned_request(target, {"accept": "image/*"})
                left = max(0.01, deadline - time.monotonic())
                with client.stream(
                    "GET", request_url, headers=headers, extensions=extensions, timeout=httpx.Timeout(left)
                ) as response:
                    if response.is_redirect and response.headers.get("location"):
                        url = urljoin(url, response.headers["location"])
                        continue
                    return _read_image_response(response, param, max_bytes, deadline)
            raise _refuse(param, f"more than {MAX_REDIRECTS} redirects", "image_url_unreachable")
    except httpx.TimeoutException:
        raise _refuse(param, f"the image did not arrive within {timeout_s:g} s", "image_url_timeout") from None
    except httpx.HTTPError as exc:
        raise _refuse(param, f"the image could not be fetched: {exc}", "image_url_unreachable") from None


def _allowed_address(allow: AllowList, target) -> bool:
    import ipaddress

    return allow.allows_address(ipaddress.ip_address(target.address))


def _read_image_response(response: httpx.Response, param: str, max_bytes: int, deadline: float) -> bytes:
    if response.status_code != 200:
        raise _refuse(param, f"the image URL answered HTTP {response.status_code}", "image_url_unreachable")
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type.startswith("image/"):
        raise _refuse(param, f"the URL holds {content_type or 'no content type'}, not an image", "invalid_image")
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(param, max_bytes)
    body = bytearray()
    for chunk in response.iter_bytes(CHUNK_BYTES):
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(param, max_bytes)
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("deadline passed while reading the image")
    return bytes(body)
