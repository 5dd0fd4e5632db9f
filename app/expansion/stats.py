"""Expansion figures kept in Redis for /metrics: outcomes counted, LLM calls timed.

Outcomes are one hash (`<prompt_expansion value>` -> count); LLM latency is a histogram in the
format of `app.metrics_store`, labelled by the call's result (`ok` or its failure reason).
"""

from redis import Redis
from redis.client import Pipeline

from app.metrics_store import observe


EXPANSION_OUTCOMES = "t2v:metrics:expansion_outcomes"
LLM_SECONDS = "t2v:metrics:hist:llm_seconds"
# Chat completions take from tens of milliseconds (a local small model) to a minute.
LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)


def count_outcome(target: Redis | Pipeline, outcome: str) -> None:
    target.hincrby(EXPANSION_OUTCOMES, outcome, 1)


def observe_llm_call(target: Redis | Pipeline, result: str, seconds: float) -> None:
    observe(target, LLM_SECONDS, result, seconds, LLM_BUCKETS)


def read_outcomes(redis: Redis) -> dict[tuple[str, str], int]:
    """{(outcome, reason): count}; "fallback: timeout" is ("fallback", "timeout")."""
    counts = {}
    for raw, count in redis.hgetall(EXPANSION_OUTCOMES).items():
        outcome, _, reason = raw.decode().partition(":")
        counts[(outcome.strip(), reason.strip())] = int(count)
    return counts
