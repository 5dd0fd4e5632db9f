"""What the API decides at create time: expand with the LLM (a job), offline (inline), or not.

Imported by the API process: no openai, no torch.
"""

import logging

from redis import Redis

from app.expansion.characters import prompt_of
from app.liveness import recent_live_workers
from app.queueing import EXPAND_QUEUE, EXPAND_STAGE
from app.settings import Settings
from models.catalog import CatalogEntry


log = logging.getLogger(__name__)

# The family whose rule-based expander (models/embedded/expander.py) stands in for the LLM.
OFFLINE_FAMILY = "embedded"
# Seconds an expand job may run beyond its LLM calls and waits (Redis, start-up).
JOB_SLACK_S = 30


def llm_configured(settings: Settings) -> bool:
    # A key alone is enough: the openai client then talks to OpenAI's own endpoint.
    return bool(settings.llm_base_url or settings.llm_api_key)


def expand_job_timeout_s(settings: Settings) -> int:
    """Enough for every attempt to time out and every backoff to be waited, plus slack."""
    attempts = settings.llm_max_retries + 1
    longest_wait = max(settings.llm_max_retry_after_s, settings.llm_backoff_s * 2**settings.llm_max_retries)
    return int(attempts * settings.llm_timeout_s + settings.llm_max_retries * longest_wait + JOB_SLACK_S)


def offline_expand(prompt: str) -> tuple[str, str]:
    """(sampler prompt, how it was obtained) from the embedded model's offline expander."""
    try:
        from models.embedded.expander import expand
    except ImportError:
        return prompt, "off"
    try:
        caption = expand(prompt)
    except Exception:  # a bug in the expander must not fail the request
        log.exception("offline expander failed on %r", prompt)
        return prompt, "fallback: offline_error"
    if not caption:
        return prompt, "fallback: not_recognised"
    return caption, "offline"


def prepare(record: dict, requested: bool | None, entry: CatalogEntry, settings: Settings) -> None:
    """Set the new record's expansion fields; LLM expansion makes `expand` its first stage."""
    wanted = settings.expand_prompts if requested is None else requested
    if not wanted:
        return
    if llm_configured(settings) and entry.spec.caption_style_path is not None:
        record["stage"] = EXPAND_STAGE
        record["prompt_expansion"] = "pending"
    elif entry.family == OFFLINE_FAMILY:
        record["revised_prompt"], record["prompt_expansion"] = offline_expand(prompt_of(record))


def warn_without_expander(record: dict, redis: Redis) -> None:
    """Say so on the video when its expand job has no live worker to run it (yet)."""
    if record.get("stage") != EXPAND_STAGE:
        return
    if any(EXPAND_QUEUE in worker.get("queues", []) for worker in recent_live_workers(redis).values()):
        return
    note = "no live worker serves the expand queue yet (t2v worker --queues expand); the video waits for it"
    record["warning"] = f"{record['warning']}; {note}" if record.get("warning") else note
