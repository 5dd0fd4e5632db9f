"""Characters in Redis: one hash per character, its reference frame beside it, and a per-tenant
index of names (HSETNX, so two creates with one name cannot both win)."""

import json
import re
import secrets
import time

from redis import Redis

from app.recent import Recent


CHARACTER_ID_RE = re.compile(r"^char_[0-9a-f]{32}$")
MAX_NAME_CHARS = 80


def _key(character_id: str) -> str:
    return f"t2v:character:{character_id}"


def _frame_key(character_id: str) -> str:
    return f"t2v:character:{character_id}:frame"


def _names_key(owner: str) -> str:
    return f"t2v:owner:{owner}:characters"


def name_key(name: str) -> str:
    """Names match case-insensitively and ignoring surrounding or repeated spaces."""
    return " ".join(name.split()).casefold()


def new_character_id() -> str:
    return f"char_{secrets.token_hex(16)}"


def is_character_id(value: str) -> bool:
    return bool(CHARACTER_ID_RE.match(value))


# Tenants that have ever named a character. Most never do, so a create reads this set (remembered
# for a second, shared by all tenants) instead of asking Redis for the tenant's names every time.
OWNERS_KEY = "t2v:characters:owners"


def _owners_with_characters(redis: Redis) -> set[str]:
    return {owner.decode() for owner in redis.smembers(OWNERS_KEY)}


recent_owners = Recent(_owners_with_characters)


def claim_name(redis: Redis, owner: str, name: str, character_id: str) -> bool:
    """Reserve `name` for `character_id`; False when the tenant already has it."""
    with redis.pipeline(transaction=True) as pipe:
        pipe.hsetnx(_names_key(owner), name_key(name), character_id)
        pipe.sadd(OWNERS_KEY, owner)
        claimed, _ = pipe.execute()
    recent_owners.forget(redis)
    return bool(claimed)


def release_name(redis: Redis, owner: str, name: str) -> None:
    redis.hdel(_names_key(owner), name_key(name))


def save(redis: Redis, character: dict, frame_png: bytes) -> None:
    with redis.pipeline(transaction=True) as pipe:
        pipe.set(_key(character["id"]), json.dumps(character))
        pipe.set(_frame_key(character["id"]), frame_png)
        pipe.execute()


def get(redis: Redis, character_id: str) -> dict | None:
    raw = redis.get(_key(character_id)) if is_character_id(character_id) else None
    return json.loads(raw) if raw else None


def frame(redis: Redis, character_id: str) -> bytes | None:
    return redis.get(_frame_key(character_id))


def of_owner(redis: Redis, owner: str) -> list[dict]:
    if owner not in recent_owners(redis):
        return []
    ids = [v.decode() for v in redis.hvals(_names_key(owner))]
    if not ids:
        return []
    rows = redis.mget([_key(i) for i in ids])
    return [json.loads(row) for row in rows if row]


def new_character(owner: str, name: str, description: str, source: str) -> dict:
    return {
        "id": new_character_id(),
        "object": "video.character",
        "name": name,
        "created_at": int(time.time()),
        "owner": owner,
        "description": description,
        "description_source": source,
    }


def public(character: dict) -> dict:
    """OpenAI's VideoCharacterResource (id, name, created_at) plus what we add."""
    return {k: character.get(k) for k in ("id", "object", "name", "created_at", "description")}
