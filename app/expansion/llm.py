"""One chat completion through the official openai client, with bounded retries.

The client is built with `max_retries=0`: retries happen here, so each one is visible (and
countable), a 429's `retry-after` is honoured only up to `llm_max_retry_after_s`, and every
failure ends as a short reason (`timeout`, `http_500`, `rate_limited`, ...) rather than an
exception that could fail the video.

    LLMFailure(reason)           every way a call can end without a reply
    retried:   timeout, connection_error, rate_limited, http_408, http_5xx
    not retried: http_4xx (a bad key or model name won't get better), invalid_response,
                 refusal, too_long (the reply was cut off), empty
"""

import logging
import random
import time
from collections.abc import Callable
from functools import lru_cache

import openai
from openai import OpenAI

from app.settings import Settings


log = logging.getLogger(__name__)

# Sent as the key when none is configured: local servers ignore it, the client insists on one.
PLACEHOLDER_API_KEY = "not-needed"


class LLMFailure(Exception):
    def __init__(self, reason: str, retryable: bool = False, wait_s: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        # What the server asked us to wait before trying again (429 retry-after).
        self.wait_s = wait_s


@lru_cache(maxsize=4)
def _client(base_url: str | None, api_key: str | None) -> OpenAI:
    return OpenAI(base_url=base_url, api_key=api_key or PLACEHOLDER_API_KEY, max_retries=0)


def _retry_after_s(response) -> float | None:
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:  # an HTTP date or junk: fall back to our own backoff
        return None
    return None


def _call(settings: Settings, messages: list[dict]) -> str:
    try:
        completion = _client(settings.llm_base_url, settings.llm_api_key).chat.completions.create(
            model=settings.llm_model,
            messages=messages,
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
            timeout=settings.llm_timeout_s,
        )
    except openai.APITimeoutError:
        raise LLMFailure("timeout", retryable=True) from None
    except openai.APIConnectionError:
        raise LLMFailure("connection_error", retryable=True) from None
    except openai.RateLimitError as exc:
        raise LLMFailure("rate_limited", retryable=True, wait_s=_retry_after_s(exc.response)) from None
    except openai.APIStatusError as exc:
        status = exc.status_code
        raise LLMFailure(f"http_{status}", retryable=status >= 500 or status == 408) from None
    except (openai.APIResponseValidationError, ValueError, TypeError):
        # A 200 whose body is not a chat completion (garbage JSON, a proxy's HTML page).
        raise LLMFailure("invalid_response") from None
    if not getattr(completion, "choices", None):
        raise LLMFailure("invalid_response")
    choice = completion.choices[0]
    message = choice.message
    if getattr(message, "refusal", None) or choice.finish_reason == "content_filter":
        raise LLMFailure("refusal")
    if choice.finish_reason == "length":
        raise LLMFailure("too_long")
    if not isinstance(message.content, str) or not message.content.strip():
        raise LLMFailure("empty")
    return message.content


def _backoff_s(settings: Settings, retry: int, failure: LLMFailure) -> float | None:
    """Seconds to wait before retry number `retry` (0-based), or None to give up now."""
    if failure.wait_s is not None:
        return failure.wait_s if failure.wait_s <= settings.llm_max_retry_after_s else None
    # Exponential with jitter, so workers that failed together don't retry together.
    return settings.llm_backoff_s * 2**retry * random.uniform(0.5, 1.0)


def complete(
    settings: Settings,
    system: str,
    user: str,
    on_call: Callable[[str, float], None] = lambda result, seconds: None,
) -> str:
    """The reply's text, or `LLMFailure`. `on_call(result, seconds)` sees every attempt."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    retry = 0
    while True:
        started = time.perf_counter()
        try:
            text = _call(settings, messages)
        except LLMFailure as failure:
            on_call(failure.reason, time.perf_counter() - started)
            wait = _backoff_s(settings, retry, failure) if failure.retryable else None
            if wait is None or retry >= settings.llm_max_retries:
                raise
            log.info("LLM call failed (%s); retrying in %.2f s", failure.reason, wait)
            time.sleep(wait)
            retry += 1
            continue
        on_call("ok", time.perf_counter() - started)
        return text
