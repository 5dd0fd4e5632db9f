"""API keys: `Authorization: Bearer t2v_<key id>_<secret>`, each key belonging to one tenant.

A key is shown once, when it is created. Redis keeps one hash per key (`t2v:apikey:<key id>`: name,
tenant, hash, created_at, revoked_at) holding only the SHA-256 of the secret, and a set of the
active key ids. The secret is 256 random bits, so a fast hash is enough (there is no password to
guess), and the comparison is constant-time all the same.

A key is looked up on every request that sends one, so a revoked key stops working from the next
request on. Whether authentication is on at all (any active key) is read at most once a second
per API process (`recent_keys_exist`): a first key made now is required within a second. With no
active key the server is open: every caller is the one tenant `public`, which is why an open server
only binds to loopback (`exposure_problem`).
"""

import hashlib
import hmac
import ipaddress
import re
import secrets
import time

from redis import Redis

from app.errors import Unauthorized
from app.recent import Recent


KEY_PREFIX = "t2v"
ACTIVE_KEYS = "t2v:apikeys:active"
# The owner of every video made while no API key exists; no key can belong to it, so videos made
# open stay out of every tenant's sight, and tenant limits never apply to the open server's caller.
OPEN_TENANT = "public"
# Tenant names become part of Redis key names: keep them to a safe alphabet.
TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KEY_ID_RE = re.compile(r"^[0-9a-f]{16}$")
# Compared against when the key id is unknown, so a miss takes as long as a wrong secret.
_NO_SUCH_HASH = hashlib.sha256(b"no such key").hexdigest()


def key_record(key_id: str) -> str:
    return f"t2v:apikey:{key_id}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not KEY_ID_RE.match(parts[1]) or not parts[2]:
        return None
    return parts[1], parts[2]


def is_api_key(token: str | None) -> bool:
    """Whether `token` is shaped like one of our keys (whatever else a client sends is no key)."""
    return token is not None and _split(token) is not None


def create_key(redis: Redis, name: str, tenant: str) -> tuple[str, str]:
    """Store a new key for `tenant`; returns its id and the full key (the only time it exists)."""
    if not name.strip():
        raise ValueError("a key needs a name")
    if not TENANT_RE.match(tenant):
        raise ValueError(
            f"tenant {tenant!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if tenant == OPEN_TENANT:
        raise ValueError(f"tenant {OPEN_TENANT!r} is reserved for the videos made while no key exists")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with redis.pipeline(transaction=True) as pipe:
        pipe.hset(
            key_record(key_id),
            mapping={"name": name, "tenant": tenant, "hash": _digest(secret), "created_at": int(time.time())},
        )
        pipe.sadd(ACTIVE_KEYS, key_id)
        pipe.execute()
    return key_id, f"{KEY_PREFIX}_{key_id}_{secret}"


def revoke_key(redis: Redis, key_id: str) -> bool:
    """Revoke an active key; False when there is no such active key."""
    if not redis.sismember(ACTIVE_KEYS, key_id):
        return False
    with redis.pipeline(transaction=True) as pipe:
        pipe.srem(ACTIVE_KEYS, key_id)
        pipe.hset(key_record(key_id), "revoked_at", int(time.time()))
        pipe.execute()
    return True


def list_keys(redis: Redis) -> list[dict]:
    """Every key ever made, oldest first, without its hash."""
    keys = []
    for name in redis.scan_iter(match=key_record("*"), count=500):
        fields = {k.decode(): v.decode() for k, v in redis.hgetall(name).items()}
        if not fields:
            continue
        keys.append(
            {
                "id": name.decode().rsplit(":", 1)[1],
                "name": fields["name"],
                "tenant": fields["tenant"],
                "created_at": int(fields["created_at"]),
                "revoked_at": int(fields["revoked_at"]) if "revoked_at" in fields else None,
            }
        )
    return sorted(keys, key=lambda k: (k["created_at"], k["id"]))


def keys_exist(redis: Redis) -> bool:
    return bool(redis.exists(ACTIVE_KEYS))


# What every request without a key asks; a key made (or the last one revoked) counts within a second.
recent_keys_exist = Recent(keys_exist)


def tenant_for(redis: Redis, token: str | None, *, keys_required: bool) -> str | None:
    """The tenant a bearer token belongs to, or None when the server is open (no active key).

    Raises Unauthorized when keys are in use (or required) and the token is missing or wrong.
    """
    parsed = _split(token) if token else None
    if parsed is not None:
        key_id, secret = parsed
        fields = redis.hgetall(key_record(key_id))
        stored = fields.get(b"hash", b"").decode() or _NO_SUCH_HASH
        matches = hmac.compare_digest(stored, _digest(secret))
        if matches and fields and b"revoked_at" not in fields:
            return fields[b"tenant"].decode()
    if not keys_required and not recent_keys_exist(redis):
        # An open server ignores whatever key a client sends (the openai client always sends one).
        return None
    if token:
        raise Unauthorized("Incorrect API key provided. Keys are made with `t2v keys create`.")
    raise Unauthorized("Missing API key: send `Authorization: Bearer <key>`.")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class OpenNetworkRefused(Exception):
    """Serving beyond loopback without API keys, and T2V_ALLOW_OPEN_NETWORK is not set."""


def check_exposure(host: str, redis: Redis, allow_open_network: bool) -> str | None:
    """A warning to print when the API will run open on `host`; None when keys protect it.

    Raises OpenNetworkRefused for a non-loopback bind without keys unless open is allowed.
    """
    if keys_exist(redis):
        return None
    if is_loopback(host):
        return (
            f"warning: no API keys exist, so the API on {host} is open to anyone on this machine "
            "(`t2v keys create --name NAME` turns authentication on)"
        )
    if allow_open_network:
        return (
            f"warning: no API keys exist and T2V_ALLOW_OPEN_NETWORK is set: the API on {host} is open "
            "to anyone who can reach it"
        )
    raise OpenNetworkRefused(
        f"refusing to serve on {host} without API keys: anyone who can reach it could use the GPUs and "
        "read every video. Create a key with `t2v keys create --name NAME`, bind to 127.0.0.1, or set "
        "T2V_ALLOW_OPEN_NETWORK=true to run open on purpose."
    )


def keys_required(host: str, allow_open_network: bool) -> bool:
    """Whether the API must refuse callers without a key even after every key is revoked."""
    return not is_loopback(host) and not allow_open_network
