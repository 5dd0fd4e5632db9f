"""Expansions cached in Redis, so a repeated prompt costs no LLM call.

Keyed by family, system-prompt version (a hash of the family's caption style), LLM model and a
hash of the prompt; only accepted captions are stored, never fallbacks, so a passing outage does
not stick to a prompt.
"""

import hashlib

from redis import Redis


PREFIX = "t2v:expansion"


def cache_key(family: str, version: str, llm_model: str, prompt: str) -> str:
    digest = hashlib.sha256(f"{llm_model}\0{prompt}".encode()).hexdigest()
    return f"{PREFIX}:{family}:{version}:{digest}"


def lookup(redis: Redis, key: str) -> str | None:
    value = redis.get(key)
    return value.decode() if value is not None else None


def store(redis: Redis, key: str, caption: str, ttl_s: int) -> None:
    if ttl_s > 0:
        redis.set(key, caption, ex=ttl_s)
