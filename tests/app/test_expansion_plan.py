"""Settings for the LLM step and the create-time decision: LLM job, offline rewrite, or none."""

import sys

import pytest
from pydantic import ValidationError

from app.expansion.plan import expand_job_timeout_s, llm_configured, prepare
from app.queueing import EXPAND_STAGE
from app.settings import Settings
from models.catalog import CatalogEntry


WAN = CatalogEntry(name="some-wan", family="wan", path="builtin:tiny-wan")
EMBEDDED = CatalogEntry(name="some-embedded", family="embedded", path="builtin:embedded")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "T2V_LLM_BASE_URL", "T2V_LLM_API_KEY", "T2V_EXPAND_PROMPTS"):
        monkeypatch.delenv(name, raising=False)


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def new_record(prompt: str = "a red ball going left") -> dict:
    return {"id": "video_x", "prompt": prompt, "revised_prompt": prompt, "prompt_expansion": "off"}


def test_openai_environment_variables_configure_the_llm(monkeypatch):
    assert not llm_configured(settings())
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    configured = settings()
    assert configured.llm_base_url == "http://127.0.0.1:9/v1" and configured.llm_api_key == "sk-openai"
    assert llm_configured(configured)


def test_t2v_settings_win_over_openai_ones(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://openai.example/v1")
    monkeypatch.setenv("T2V_LLM_BASE_URL", "http://local:8080/v1")
    assert settings().llm_base_url == "http://local:8080/v1"


def test_a_key_alone_configures_the_llm_and_blank_values_do_not(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-only")
    assert llm_configured(settings())
    monkeypatch.setenv("OPENAI_API_KEY", " ")
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    assert not llm_configured(settings())


@pytest.mark.parametrize(
    "unsafe",
    [
        {"llm_timeout_s": -1},
        {"llm_timeout_s": 0},
        {"llm_max_retries": -1},
        {"llm_max_retries": 1000},
        {"llm_temperature": 3},
        {"llm_backoff_s": -0.5},
        {"llm_max_caption_chars": 0},
        {"llm_cache_ttl_s": -1},
        {"llm_base_url": "file:///etc/passwd"},
    ],
)
def test_unsafe_values_are_refused(unsafe):
    with pytest.raises(ValidationError):
        settings(**unsafe)


def test_the_expand_job_may_outlast_every_attempt_and_wait():
    configured = settings(llm_timeout_s=10, llm_max_retries=2, llm_max_retry_after_s=5, llm_backoff_s=1)
    assert expand_job_timeout_s(configured) >= 3 * 10 + 2 * 5


def test_with_an_llm_expansion_is_the_first_stage():
    record = new_record()
    prepare(record, None, WAN, settings(llm_base_url="http://127.0.0.1:9/v1"))
    assert record["stage"] == EXPAND_STAGE and record["prompt_expansion"] == "pending"
    assert record["revised_prompt"] == record["prompt"]


@pytest.mark.parametrize(
    ("requested", "default", "expands"),
    [(None, True, True), (None, False, False), (True, False, True), (False, True, False)],
)
def test_the_request_field_overrides_the_default(requested, default, expands):
    record = new_record()
    prepare(record, requested, WAN, settings(llm_base_url="http://127.0.0.1:9/v1", expand_prompts=default))
    assert (record.get("stage") == EXPAND_STAGE) is expands


def test_without_an_llm_expansion_is_off_even_when_asked_for():
    record = new_record()
    prepare(record, True, WAN, settings())
    assert "stage" not in record and record["prompt_expansion"] == "off"


def test_the_embedded_model_gets_the_offline_rewrite_without_an_llm():
    record = new_record("red ball going left")
    prepare(record, None, EMBEDDED, settings())
    assert record["prompt_expansion"] == "offline"
    assert record["revised_prompt"] == "a large red circle moves to the left slowly on a plain black background."
    assert record["prompt"] == "red ball going left" and "stage" not in record


def test_an_unrecognised_prompt_passes_through_with_the_reason():
    record = new_record("a castle in the clouds")
    prepare(record, None, EMBEDDED, settings())
    assert record["revised_prompt"] == "a castle in the clouds"
    assert record["prompt_expansion"] == "fallback: not_recognised"


def test_the_offline_expander_may_be_absent(monkeypatch):
    monkeypatch.setitem(sys.modules, "models.embedded.expander", None)  # makes the import fail
    record = new_record()
    prepare(record, None, EMBEDDED, settings())
    assert record["revised_prompt"] == record["prompt"] and record["prompt_expansion"] == "off"


def test_asking_for_no_expansion_skips_the_offline_rewrite_too():
    record = new_record()
    prepare(record, False, EMBEDDED, settings())
    assert record["revised_prompt"] == record["prompt"] and record["prompt_expansion"] == "off"


def test_the_embedded_model_uses_the_llm_when_there_is_one():
    record = new_record()
    prepare(record, None, EMBEDDED, settings(llm_api_key="sk-x"))
    assert record["stage"] == EXPAND_STAGE
