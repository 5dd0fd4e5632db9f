"""`expand_with_llm` in-process against a real Redis and the fake LLM: the cache and its key."""

import uuid

import pytest

from app.settings import Settings
from tests.llm_server import FakeLLM
from workers.expand import expand_with_llm


@pytest.fixture(scope="module")
def llm():
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture
def settings(llm) -> Settings:
    return Settings(_env_file=None, llm_base_url=llm.base_url, llm_timeout_s=1, llm_max_retries=0)


def fresh_prompt() -> str:
    # Unique per run: the session's Redis keeps cached captions between tests.
    return f"a glass jar of fireflies on a porch, batch {uuid.uuid4().hex[:8]}"


def test_the_second_identical_request_costs_no_call(redis, llm, settings):
    llm.reset("good")
    prompt = fresh_prompt()
    first = expand_with_llm(redis, "wan", "STYLE", prompt, settings)
    second = expand_with_llm(redis, "wan", "STYLE", prompt, settings)
    assert (first.outcome, second.outcome) == ("expanded", "cached")
    assert first.prompt == second.prompt != prompt
    assert len(llm.calls_for(prompt)) == 1


def test_editing_the_caption_style_or_changing_family_or_model_misses_the_cache(redis, llm, settings):
    llm.reset("good")
    prompt = fresh_prompt()
    expand_with_llm(redis, "wan", "STYLE", prompt, settings)
    assert expand_with_llm(redis, "wan", "STYLE, edited", prompt, settings).outcome == "expanded"
    assert expand_with_llm(redis, "ltx", "STYLE", prompt, settings).outcome == "expanded"
    other_model = settings.model_copy(update={"llm_model": "another-model"})
    assert expand_with_llm(redis, "wan", "STYLE", prompt, other_model).outcome == "expanded"
    assert len(llm.calls_for(prompt)) == 4


def test_fallbacks_are_not_cached(redis, llm, settings):
    prompt = fresh_prompt()
    llm.reset("error_500")
    failed = expand_with_llm(redis, "wan", "STYLE", prompt, settings)
    assert (failed.prompt, failed.outcome) == (prompt, "fallback: http_500")
    llm.reset("good")
    assert expand_with_llm(redis, "wan", "STYLE", prompt, settings).outcome == "expanded"


def test_a_zero_ttl_turns_caching_off(redis, llm, settings):
    llm.reset("good")
    prompt = fresh_prompt()
    uncached = settings.model_copy(update={"llm_cache_ttl_s": 0})
    expand_with_llm(redis, "wan", "STYLE", prompt, uncached)
    assert expand_with_llm(redis, "wan", "STYLE", prompt, uncached).outcome == "expanded"
    assert len(llm.calls_for(prompt)) == 2


def test_cached_captions_expire(redis, llm, settings):
    from app.expansion import cache, prompting

    llm.reset("good")
    prompt = fresh_prompt()
    expand_with_llm(redis, "wan", "STYLE", prompt, settings)
    key = cache.cache_key("wan", prompting.prompt_version(prompting.system_prompt("STYLE")), settings.llm_model, prompt)
    assert 0 < redis.ttl(key) <= settings.llm_cache_ttl_s
