"""The expand job: rewrite a queued video's prompt with the LLM, then queue its render.

Runs on CPU workers (`t2v worker --queues expand`). Nothing here fails a video: every problem
(timeout, 5xx, 429, refusal, a reply that is not a caption, even a bug) ends with the user's
prompt going to the sampler and `prompt_expansion: "fallback: <reason>"` saying why.
Delivery is at least once: the record decides whether there is anything left to do.
"""

import logging
import time
from dataclasses import dataclass

from redis import Redis

from app.events import stream as events
from app.expansion import cache, prompting
from app.expansion.characters import prompt_of
from app.expansion.checks import Rejected, check_caption
from app.expansion.handoff import hand_off_to_render
from app.expansion.llm import LLMFailure, complete
from app.expansion.plan import OFFLINE_FAMILY, offline_expand
from app.expansion.stats import observe_llm_call
from app.queueing import EXPAND_STAGE
from app.settings import Settings
from app.status import VideoStatus
from workers.context import current


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expansion:
    prompt: str  # what the sampler gets
    outcome: str  # "expanded", "cached" or "fallback: <reason>"


def expand_with_llm(redis: Redis, family: str, caption_style: str, prompt: str, settings: Settings) -> Expansion:
    """The caption for `prompt` from the cache or the LLM, or the prompt itself with the reason."""
    system = prompting.system_prompt(caption_style)
    key = cache.cache_key(family, prompting.prompt_version(system), settings.llm_model, prompt)
    cached = cache.lookup(redis, key)
    if cached is not None:
        return Expansion(cached, "cached")
    try:
        reply = complete(
            settings,
            system,
            prompting.user_message(prompt),
            on_call=lambda result, seconds: observe_llm_call(redis, result, seconds),
        )
        caption = check_caption(prompt, reply, settings.llm_max_caption_chars)
    except (LLMFailure, Rejected) as exc:
        log.info("expansion fell back to the user's prompt: %s", exc.reason)
        return Expansion(prompt, f"fallback: {exc.reason}")
    cache.store(redis, key, caption, settings.llm_cache_ttl_s)
    return Expansion(caption, "expanded")


def expand_prompt(video_id: str) -> str:
    ctx = current()
    record = ctx.store.get(video_id)
    if record is None or record["status"] != VideoStatus.QUEUED.value or record.get("stage") != EXPAND_STAGE:
        return "skipped"  # deleted, cancelled, or a duplicate delivery after the hand-off
    events.append_now(ctx.redis, video_id, events.EXPANDING, {"done": False})
    started = time.perf_counter()
    try:
        spec = ctx.catalog[record["model"]].spec
        style = spec.caption_style
        if style:
            expansion = expand_with_llm(ctx.redis, spec.name, style, prompt_of(record), ctx.settings)
        else:  # the catalog changed since the video was created
            expansion = Expansion(prompt_of(record), "fallback: no_caption_style")
    except Exception:  # a bug or a vanished catalog entry must not cost the user the video
        log.exception("expansion of %s failed", video_id)
        expansion = Expansion(prompt_of(record), "fallback: error")
    entry = ctx.catalog.entries.get(record["model"])
    if expansion.outcome.startswith("fallback") and entry is not None and entry.family == OFFLINE_FAMILY:
        # The embedded model knows only its caption grammar: its offline expander beats the raw prompt.
        caption, how = offline_expand(prompt_of(record))
        if how == "offline":
            expansion = Expansion(caption, f"{expansion.outcome}; offline")
    fields = {
        "revised_prompt": expansion.prompt,
        "prompt_expansion": expansion.outcome,
        "timings": {**record.get("timings", {}), "expand": round(time.perf_counter() - started, 4)},
    }
    if not hand_off_to_render(ctx.redis, video_id, fields, ctx.settings):
        return "skipped"
    return expansion.outcome
