"""The openai client wrapper against a real HTTP server speaking Chat Completions."""

import time

import pytest

from app.expansion.llm import LLMFailure, complete
from app.settings import Settings
from tests.llm_server import FakeLLM


USER = "<request>\na red fox jumping over a log\n</request>"


@pytest.fixture(scope="module")
def llm():
    server = FakeLLM().start()
    yield server
    server.stop()


def settings_for(llm: FakeLLM, **overrides) -> Settings:
    values = dict(llm_base_url=llm.base_url, llm_timeout_s=0.5, llm_max_retries=2, llm_backoff_s=0.05)
    return Settings(**{**values, **overrides})


def test_a_good_answer_is_returned_after_one_call_with_the_configured_request(llm):
    llm.reset("good")
    reply = complete(settings_for(llm, llm_model="local-model", llm_temperature=0.7, llm_max_tokens=123), "SYS", USER)
    assert reply.startswith("a red fox jumping over a log.")
    [call] = llm.calls
    assert call["model"] == "local-model"
    assert call["temperature"] == 0.7 and call["max_tokens"] == 123
    assert call["messages"] == [{"role": "system", "content": "SYS"}, {"role": "user", "content": USER}]


def test_the_key_is_sent_as_a_bearer_token(llm):
    llm.reset("good")
    complete(settings_for(llm, llm_api_key="sk-test"), "SYS", USER)
    assert llm.authorizations == ["Bearer sk-test"]


@pytest.mark.parametrize(
    ("mode", "reason", "calls"),
    [
        ("slow", "timeout", 3),
        ("error_500", "http_500", 3),
        # A body that is not a completion won't improve by asking again.
        ("garbage", "invalid_response", 1),
    ],
)
def test_failures_end_in_a_reason_after_bounded_retries(llm, mode, reason, calls):
    llm.reset(mode)
    llm.delay_s = 2.0
    started = time.monotonic()
    with pytest.raises(LLMFailure) as caught:
        complete(settings_for(llm), "SYS", USER)
    assert caught.value.reason == reason
    assert len(llm.calls) == calls
    if mode == "slow":
        # Three attempts of 0.5 s each plus short backoffs, not three times the server's delay.
        assert time.monotonic() - started < 2.5


@pytest.mark.parametrize(
    ("knob", "reason"),
    [
        ({"refusal": "I can't help with that."}, "refusal"),
        ({"finish_reason": "content_filter"}, "refusal"),
        ({"finish_reason": "length"}, "too_long"),
        ({"reply": ""}, "empty"),
    ],
)
def test_answers_without_a_usable_caption_are_failures_too(llm, knob, reason):
    llm.reset("good")
    for name, value in knob.items():
        setattr(llm, name, value)
    with pytest.raises(LLMFailure) as caught:
        complete(settings_for(llm), "SYS", USER)
    assert caught.value.reason == reason
    assert len(llm.calls) == 1


def test_no_retries_when_set_to_zero(llm):
    llm.reset("error_500")
    with pytest.raises(LLMFailure):
        complete(settings_for(llm, llm_max_retries=0), "SYS", USER)
    assert len(llm.calls) == 1


def test_429_waits_for_retry_after_then_succeeds(llm):
    llm.reset("rate_limited")
    llm.retry_after_s, llm.rate_limit_count = 1, 1
    started = time.monotonic()
    reply = complete(settings_for(llm), "SYS", USER)
    assert reply.startswith("a red fox")
    assert len(llm.calls) == 2
    assert time.monotonic() - started >= 1.0


def test_429_asking_for_longer_than_allowed_gives_up_at_once(llm):
    llm.reset("rate_limited")
    llm.retry_after_s, llm.rate_limit_count = 120, 5
    with pytest.raises(LLMFailure) as caught:
        complete(settings_for(llm, llm_max_retry_after_s=2), "SYS", USER)
    assert caught.value.reason == "rate_limited"
    assert len(llm.calls) == 1


def test_a_client_error_is_not_retried(llm):
    with pytest.raises(LLMFailure) as caught:
        # The fake answers 404 for any other path, as a wrong base URL would.
        complete(settings_for(llm, llm_base_url=llm.base_url + "/wrong"), "SYS", USER)
    assert caught.value.reason == "http_404"


def test_connection_refused_is_a_reason_too():
    from app.embedded_redis import free_port

    settings = Settings(llm_base_url=f"http://127.0.0.1:{free_port()}/v1", llm_max_retries=1, llm_backoff_s=0.01)
    with pytest.raises(LLMFailure) as caught:
        complete(settings, "SYS", USER)
    assert caught.value.reason == "connection_error"


def test_every_attempt_is_reported_with_its_latency(llm):
    llm.reset("error_500")
    seen = []
    with pytest.raises(LLMFailure):
        complete(settings_for(llm, llm_max_retries=1), "SYS", USER, on_call=lambda r, s: seen.append((r, s)))
    assert [r for r, _ in seen] == ["http_500", "http_500"]
    assert all(s >= 0 for _, s in seen)
