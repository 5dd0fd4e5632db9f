"""Video events and `emit()`: one call after each successful status change.

`emit` is cheap and never raises: it reads the record, builds the event once and, for each
endpoint that wants it, writes a delivery record and enqueues a notify job (one transaction).
The HTTP happens later on the `notify` queue, so the render path never waits on a receiver.
"""

import json
import logging
import secrets
import time

from redis import Redis

from app.records import RecordStore
from app.schemas import video_object
from app.settings import Settings, get_settings
from app.webhooks.config import WebhookConfig
from app.webhooks.deliveries import PENDING, DeliveryStore


log = logging.getLogger(__name__)

VIDEO_QUEUED = "video.queued"
VIDEO_IN_PROGRESS = "video.in_progress"
VIDEO_COMPLETED = "video.completed"
VIDEO_FAILED = "video.failed"
VIDEO_CANCELLED = "video.cancelled"
EVENT_TYPES = (VIDEO_QUEUED, VIDEO_IN_PROGRESS, VIDEO_COMPLETED, VIDEO_FAILED, VIDEO_CANCELLED)
# What a `webhook_url` receives when the request names no `webhook_events`.
DEFAULT_EVENTS = (VIDEO_COMPLETED, VIDEO_FAILED, VIDEO_CANCELLED)

# Where an endpoint came from: the create request, or the operator's settings.
FROM_REQUEST = "request"
FROM_SETTINGS = "settings"


def build_event(record: dict, event_type: str) -> dict:
    """OpenAI's event shape, with the whole video object as `data`."""
    return {
        "id": f"evt_{secrets.token_hex(16)}",
        "object": "event",
        "created_at": int(time.time()),
        "type": event_type,
        "data": video_object(record),
    }


def endpoints_for(record: dict, config: WebhookConfig, event_type: str) -> list[tuple[str, str]]:
    endpoints = [(url, FROM_SETTINGS) for url in config.urls]
    if record.get("webhook_url") and event_type in (record.get("webhook_events") or DEFAULT_EVENTS):
        endpoints.append((record["webhook_url"], FROM_REQUEST))
    return endpoints


def emit(redis: Redis, video_id: str, event_type: str, settings: Settings | None = None) -> list[str]:
    """Queue deliveries of `event_type` for `video_id`; returns the delivery ids.

    Call it right after the transition that produced the status: the event carries the record
    as it is then. `settings` defaults to the process' own.
    """
    try:
        config = WebhookConfig.from_settings(settings or get_settings())
        if not config.enabled:
            return []
        record = RecordStore(redis).get(video_id)
        endpoints = endpoints_for(record, config, event_type) if record else []
        if not endpoints:
            return []
        event = build_event(record, event_type)
        # Serialised once: every attempt to every endpoint sends (and signs) these exact bytes.
        payload = json.dumps(event, separators=(",", ":"))
        deliveries = DeliveryStore(redis)
        ids = []
        with redis.pipeline(transaction=True) as pipe:
            for url, source in endpoints:
                delivery = {
                    "id": f"msg_{secrets.token_hex(16)}",
                    "video_id": video_id,
                    "event_id": event["id"],
                    "event_type": event_type,
                    "url": url,
                    "source": source,
                    "payload": payload,
                    "status": PENDING,
                    "attempts": 0,
                    "created_at": time.time(),
                    "last_attempt_at": None,
                    "next_attempt_at": time.time(),
                    "lease_until": None,
                    "last_status_code": None,
                    "last_error": None,
                    "last_response": None,
                    "delivered_at": None,
                }
                deliveries.add(delivery, pipe, config.timeout_s)
                ids.append(delivery["id"])
            pipe.execute()
        return ids
    except Exception:
        # A webhook problem must never fail the render or the request that changed the status.
        log.exception("could not queue %s webhooks for %s", event_type, video_id)
        return []
