"""Our signatures verify with the two libraries receivers use, and only when they should."""

import json
import time

import openai
import pytest
from openai import OpenAI
from pydantic import ValidationError
from standardwebhooks import Webhook, WebhookVerificationError

from app.settings import Settings
from app.webhooks.signing import new_secret, parse_secrets, signature_headers


BODY = json.dumps(
    {
        "id": "evt_0123",
        "object": "event",
        "created_at": 1_700_000_000,
        "type": "video.completed",
        "data": {"id": "video_" + "ab" * 16, "object": "video", "status": "completed"},
    },
    separators=(",", ":"),
)


def _openai() -> OpenAI:
    return OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1")


def test_fresh_signature_verifies_with_standardwebhooks_and_openai():
    secret = new_secret()
    headers = signature_headers("msg_1", int(time.time()), BODY, (secret,))

    assert Webhook(secret).verify(BODY, headers)["type"] == "video.completed"
    event = _openai().webhooks.unwrap(BODY, headers, secret=secret)
    assert event.type == "video.completed" and event.data.id == "video_" + "ab" * 16


def test_every_configured_secret_signs_so_receivers_can_rotate():
    old, new = new_secret(), new_secret()
    headers = signature_headers("msg_2", int(time.time()), BODY, parse_secrets(f"{old}, {new}"))

    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
        _openai().webhooks.verify_signature(BODY, headers, secret=secret)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_tampered_body_fails_with_both_libraries():
    secret = new_secret()
    headers = signature_headers("msg_3", int(time.time()), BODY, (secret,))
    tampered = BODY.replace("completed", "failed", 1)

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        _openai().webhooks.unwrap(tampered, headers, secret=secret)


def test_changed_message_id_fails_verification():
    secret = new_secret()
    headers = {**signature_headers("msg_4", int(time.time()), BODY, (secret,)), "webhook-id": "msg_other"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers)


@pytest.mark.parametrize("offset_s", [-600, 600])
def test_stale_or_future_timestamp_fails_with_both_libraries(offset_s):
    secret = new_secret()
    headers = signature_headers("msg_5", int(time.time()) + offset_s, BODY, (secret,))

    with pytest.raises(WebhookVerificationError, match=r"too (old|new)"):
        Webhook(secret).verify(BODY, headers)
    with pytest.raises(openai.InvalidWebhookSignatureError, match=r"too (old|new)"):
        _openai().webhooks.unwrap(BODY, headers, secret=secret)


def test_new_secret_has_the_whsec_form_and_parses():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert parse_secrets(secret) == (secret,)
    assert parse_secrets(f" {secret}\n{secret} ") == (secret, secret)
    assert parse_secrets("") == ()


@pytest.mark.parametrize(
    "bad",
    [
        "plain-password",
        "whsec_not*base64!",
        "whsec_c2hvcnQ=",  # decodes to 5 bytes
        "whsec_" + "A" * 200,  # 150 bytes
    ],
)
def test_malformed_secrets_stop_the_settings_from_loading(bad):
    with pytest.raises(ValidationError, match="webhook secret"):
        Settings(webhook_secret=bad)


def test_endpoints_without_a_secret_are_refused():
    with pytest.raises(ValidationError, match="T2V_WEBHOOK_SECRET"):
        Settings(webhook_urls="https://hooks.example.com/t2v")


@pytest.mark.parametrize(
    "field, value",
    [
        ("webhook_urls", "ftp://hooks.example.com/"),
        ("webhook_allowed_hosts", "not a host"),
        ("webhook_retry_schedule_s", "5,soon"),
        ("webhook_retry_schedule_s", "-1"),
    ],
)
def test_other_malformed_webhook_settings_are_refused(field, value):
    with pytest.raises(ValidationError):
        Settings(webhook_secret=new_secret(), **{field: value})


# --- the retry schedule the settings describe ---


def test_retry_delays_follow_the_schedule_with_bounded_jitter_and_honour_retry_after():
    from app.webhooks.config import WebhookConfig
    from workers.notify import JITTER, retry_delay_s

    config = WebhookConfig.from_settings(Settings(webhook_secret=new_secret(), webhook_retry_schedule_s="5,300,1800"))
    assert [config.retry_delay_s(n) for n in (1, 2, 3, 4, 9)] == [5, 300, 1800, 1800, 1800]
    delays = [retry_delay_s(config, 2, None) for _ in range(200)]
    assert all(300 * (1 - JITTER) <= d <= 300 * (1 + JITTER) for d in delays)
    assert len(set(delays)) > 1
    assert retry_delay_s(config, 1, 120.0) == 120.0


def test_retry_after_is_read_as_seconds_or_an_http_date():
    from email.utils import formatdate

    from app.webhooks.sender import MAX_RETRY_AFTER_S, parse_retry_after

    now = time.time()
    assert parse_retry_after("30", now) == 30
    assert 59 <= parse_retry_after(formatdate(now + 60, usegmt=True), now) <= 60
    assert parse_retry_after("999999999", now) == MAX_RETRY_AFTER_S
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None
