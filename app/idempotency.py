"""`Idempotency-Key` on POSTs: a retry with the same key and body gets the first response again.

Keys are scoped per tenant and operation (`t2v:idempotency:<tenant>:<operation>:<sha256(key)>`)
and remembered for T2V_IDEMPOTENCY_TTL_S. The first request claims the key with SET NX (a
short-lived placeholder holding a fingerprint of its body), does the work, then stores its
response in place of the placeholder. A concurrent request with the same key and body waits
briefly for that response; any request with the same key and another body is a 409. A request
that fails releases its claim, so its retry runs again instead of replaying an error.
"""

import hashlib
import json
import secrets
import time
from collections.abc import Callable

from redis import Redis

from app.errors import Conflict


HEADER = "Idempotency-Key"
# Enforced where the header is declared (app/routes/videos.py); the stored key is a hash anyway.
MAX_KEY_CHARS = 255
# A claim whose request died without releasing it blocks the key only this long.
CLAIM_TTL_S = 30
# How long a concurrent duplicate waits for the first request's response before a 409, and how
# often it looks (creating a video takes milliseconds, so the wait is almost always short).
WAIT_FOR_FIRST_S = 5.0
POLL_S = 0.02

# Replace the placeholder only if it is still ours (ARGV[1]); an empty ARGV[2] deletes it.
_SETTLE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
return 1
"""


def _opaque(value: object) -> str:
    # Uploaded files and other non-JSON values count by their kind, not their memory address.
    return type(value).__name__


def fingerprint(body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=_opaque)
    return hashlib.sha256(canonical.encode()).hexdigest()


def storage_key(tenant: str, operation: str, key: str) -> str:
    return f"t2v:idempotency:{tenant}:{operation}:{hashlib.sha256(key.encode()).hexdigest()}"


def run_once(
    redis: Redis,
    *,
    tenant: str,
    operation: str,
    key: str,
    body: dict,
    ttl_s: int,
    produce: Callable[[], dict],
) -> tuple[dict, bool]:
    """The response of `produce()` for this key: computed now, or the first one replayed.

    Returns (response body, replayed).
    """
    name = storage_key(tenant, operation, key)
    body_print = fingerprint(body)
    placeholder = json.dumps({"state": "pending", "fingerprint": body_print, "claim": secrets.token_hex(8)})
    deadline = time.monotonic() + WAIT_FOR_FIRST_S
    while not redis.set(name, placeholder, nx=True, ex=CLAIM_TTL_S):
        raw = redis.get(name)
        if raw is None:
            continue  # the first request failed and let go between our SET and GET: claim it
        entry = json.loads(raw)
        if entry["fingerprint"] != body_print:
            raise Conflict(
                f"{HEADER} {key!r} was already used with a different request body",
                param=HEADER,
                code="idempotency_key_reused",
            )
        if entry["state"] == "done":
            return entry["response"], True
        if time.monotonic() > deadline:
            raise Conflict(
                f"a request with {HEADER} {key!r} is still being processed; retry shortly",
                param=HEADER,
                code="idempotency_key_in_progress",
            )
        time.sleep(POLL_S)

    settle = redis.register_script(_SETTLE)
    try:
        response = produce()
    except BaseException:
        settle(keys=[name], args=[placeholder, "", 0])
        raise
    done = json.dumps({"state": "done", "fingerprint": body_print, "response": response})
    settle(keys=[name], args=[placeholder, done, ttl_s])
    return response, False
