"""Standard Webhooks signatures, made with the `standardwebhooks` library.

Secrets look like `whsec_<base64>`. Several may be configured at once: every delivery then
carries one `v1,<signature>` per secret in `webhook-signature`, so a receiver can move to a new
secret while the old one is still accepted (rotation without a window of failed deliveries).
"""

import base64
import binascii
import re
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook


SECRET_PREFIX = "whsec_"
# The Standard Webhooks spec asks for secrets of 24 to 64 random bytes.
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
NEW_SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(NEW_SECRET_BYTES)).decode()


def _check_secret(secret: str) -> str:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"webhook secrets look like {SECRET_PREFIX}<base64>; got one starting {secret[:6]!r}")
    try:
        # Strict decoding: the openai package decodes without fixing padding, so neither do we.
        raw = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is not valid base64 after its whsec_ prefix") from None
    if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"a webhook secret must decode to {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes, not {len(raw)}; "
            "make one with `t2v webhooks secret`"
        )
    return secret


def parse_secrets(text: str) -> tuple[str, ...]:
    """Comma- or space-separated `whsec_` secrets; raises ValueError on a malformed one."""
    return tuple(_check_secret(part) for part in re.split(r"[\s,]+", text.strip()) if part)


def signature_headers(message_id: str, timestamp: int, body: str, secrets_: tuple[str, ...]) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (sign each attempt with a fresh time)."""
    signed_at = datetime.fromtimestamp(timestamp, tz=UTC)
    signatures = " ".join(Webhook(secret).sign(message_id, signed_at, body) for secret in secrets_)
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures}
