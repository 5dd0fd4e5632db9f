"""Create-time validation of `webhook_url` / `webhook_events` (400s in OpenAI's envelope)."""

from app.errors import InvalidRequest
from app.webhooks.config import WebhookConfig
from app.webhooks.events import DEFAULT_EVENTS, EVENT_TYPES
from app.webhooks.url_safety import UnsafeUrl, check_url_at_create


def subscription_fields(url: str | None, events: list[str] | None, settings) -> dict:
    """The record fields for a create request's webhook, or an InvalidRequest naming the param."""
    if url is None:
        if events is not None:
            raise InvalidRequest("webhook_events needs a webhook_url to send them to", param="webhook_events")
        return {}
    config = WebhookConfig.from_settings(settings)
    if not config.enabled:
        raise InvalidRequest(
            "webhooks are not enabled on this server (it has no T2V_WEBHOOK_SECRET to sign them with)",
            param="webhook_url",
            code="webhooks_not_configured",
        )
    try:
        check_url_at_create(url, config.allow)
    except UnsafeUrl as exc:
        raise InvalidRequest(str(exc), param="webhook_url", code=exc.code) from None
    if events is not None:
        unknown = [event for event in events if event not in EVENT_TYPES]
        if unknown or not events:
            raise InvalidRequest(
                f"webhook_events must name one or more of {', '.join(EVENT_TYPES)}; got {', '.join(unknown) or 'none'}",
                param="webhook_events",
            )
    return {"webhook_url": url, "webhook_events": list(dict.fromkeys(events or DEFAULT_EVENTS))}
