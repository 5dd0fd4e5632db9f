"""The notify job: one webhook delivery attempt, then the next one scheduled or the outcome kept.

Runs on the `notify` queue (`t2v worker --queues notify`, a CPU-only worker that also runs RQ's
scheduler for the delayed retries). Retries wait per `T2V_WEBHOOK_RETRY_SCHEDULE_S` with jitter,
or longer when a 429/503 asks for it with `retry-after`, up to `T2V_WEBHOOK_MAX_ATTEMPTS`.
"""

import logging
import random

from app.webhooks.config import WebhookConfig
from app.webhooks.deliveries import DELIVERED, DISABLED, FAILED, REFUSED, DeliveryStore
from app.webhooks.sender import Outcome, send
from workers.context import current


log = logging.getLogger(__name__)

# Each scheduled delay is stretched or shrunk by up to this fraction, so receivers coming back
# from an outage are not hit by every delayed delivery in the same second.
JITTER = 0.2


def retry_delay_s(config: WebhookConfig, attempts_made: int, retry_after_s: float | None) -> float:
    delay = config.retry_delay_s(attempts_made) * random.uniform(1 - JITTER, 1 + JITTER)
    return max(delay, retry_after_s or 0.0)


def deliver_webhook(delivery_id: str, attempt: int, guard: bool = False) -> str:
    """Make attempt number `attempt` (`guard`: again, because the worker making it died)."""
    ctx = current()
    config = WebhookConfig.from_settings(ctx.settings)
    deliveries = DeliveryStore(ctx.redis)
    guard_id = deliveries.begin(delivery_id, attempt, config.timeout_s, guard=guard)
    if guard_id is None:
        # Settled already, a duplicate of an attempt another job made, or a guard with nothing to do.
        return "skipped"
    delivery = deliveries.get(delivery_id)
    if not config.enabled:
        # Never send unsigned: this worker was started without the secret the API signs with.
        deliveries.finish(delivery_id, guard_id, FAILED, last_error="the notify worker has no T2V_WEBHOOK_SECRET")
        return FAILED
    if deliveries.is_disabled(delivery["url"]):
        deliveries.finish(delivery_id, guard_id, DISABLED, last_error="the endpoint answered 410 Gone before")
        return DISABLED

    result = send(delivery["url"], delivery_id, delivery["payload"], config)
    seen = {"last_status_code": result.status_code, "last_error": result.error, "last_response": result.response}
    if result.outcome == Outcome.DELIVERED:
        deliveries.finish(delivery_id, guard_id, DELIVERED, **seen)
        return DELIVERED
    if result.outcome == Outcome.GONE:
        deliveries.disable_endpoint(delivery["url"])
        deliveries.finish(delivery_id, guard_id, DISABLED, **seen)
        return DISABLED
    if result.outcome == Outcome.REFUSED:
        deliveries.finish(delivery_id, guard_id, REFUSED, **seen)
        log.warning("webhook %s to a refused address: %s", delivery_id, result.error)
        return REFUSED
    if attempt >= config.max_attempts:
        deliveries.finish(delivery_id, guard_id, FAILED, **seen)
        log.warning("webhook %s failed after %d attempts: %s", delivery_id, attempt, result.error)
        return FAILED
    delay = retry_delay_s(config, attempt, result.retry_after_s)
    deliveries.schedule_retry(delivery_id, guard_id, attempt + 1, delay, config.timeout_s, **seen)
    return "retrying"
