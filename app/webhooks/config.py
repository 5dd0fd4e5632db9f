"""The webhook settings, parsed from their `T2V_WEBHOOK_*` text forms and checked.

Settings validation calls `WebhookConfig.from_settings`, so a malformed secret, URL, allow-list
entry or schedule stops a process at start-up instead of failing its first delivery.
"""

from dataclasses import dataclass

from app.webhooks.signing import parse_secrets
from app.webhooks.url_safety import AllowList, UnsafeUrl, parse_url


@dataclass(frozen=True)
class WebhookConfig:
    secrets: tuple[str, ...]
    # Endpoints that receive every event of every video (the operator's, from settings).
    urls: tuple[str, ...]
    allow: AllowList
    timeout_s: float
    max_attempts: int
    # Seconds before retry n (the last value repeats when there are more attempts than values).
    retry_schedule_s: tuple[float, ...]
    response_cap_bytes: int

    @property
    def enabled(self) -> bool:
        return bool(self.secrets)

    @classmethod
    def from_settings(cls, settings) -> "WebhookConfig":
        secrets = parse_secrets(settings.webhook_secret)
        urls = tuple(url.strip() for url in settings.webhook_urls.split(",") if url.strip())
        for url in urls:
            try:
                parse_url(url)
            except UnsafeUrl as exc:
                raise ValueError(f"T2V_WEBHOOK_URLS: {url!r}: {exc}") from None
        if urls and not secrets:
            raise ValueError("T2V_WEBHOOK_URLS is set but T2V_WEBHOOK_SECRET is not: deliveries must be signed")
        try:
            schedule = tuple(float(part) for part in settings.webhook_retry_schedule_s.split(",") if part.strip())
        except ValueError:
            raise ValueError("T2V_WEBHOOK_RETRY_SCHEDULE_S must be comma-separated seconds") from None
        if not schedule or any(delay < 0 for delay in schedule):
            raise ValueError("T2V_WEBHOOK_RETRY_SCHEDULE_S needs at least one delay, none negative")
        return cls(
            secrets=secrets,
            urls=urls,
            allow=AllowList.parse(settings.webhook_allowed_hosts),
            timeout_s=settings.webhook_timeout_s,
            max_attempts=settings.webhook_max_attempts,
            retry_schedule_s=schedule,
            response_cap_bytes=settings.webhook_response_cap_bytes,
        )

    def retry_delay_s(self, attempts_made: int) -> float:
        """The scheduled wait after `attempts_made` failed attempts (before jitter)."""
        return self.retry_schedule_s[min(attempts_made, len(self.retry_schedule_s)) - 1]
