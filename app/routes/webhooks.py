"""`/videos/{id}/webhooks` (mounted again under `/v1`): a video's webhook deliveries."""

import time
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter

from app.deps import OwnerDep, RedisDep, SettingsDep, StoreDep
from app.errors import Conflict, NotFound
from app.routes.videos import IdempotencyKey, _once, _owned
from app.webhooks.deliveries import DeliveryStore
from app.webhooks.events import FROM_SETTINGS


router = APIRouter(tags=["webhooks"])


def _shown_url(delivery: dict) -> str:
    # The operator's endpoints may carry tokens in their query; callers see where, not how.
    if delivery["source"] != FROM_SETTINGS:
        return delivery["url"]
    parts = urlsplit(delivery["url"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def delivery_object(delivery: dict) -> dict:
    return {
        "id": delivery["id"],
        "object": "video.webhook_delivery",
        "video_id": delivery["video_id"],
        "event_id": delivery["event_id"],
        "event_type": delivery["event_type"],
        "url": _shown_url(delivery),
        "source": delivery["source"],
        "status": delivery["status"],
        "attempts": delivery["attempts"],
        "last_status_code": delivery["last_status_code"],
        "last_error": delivery["last_error"],
        # The start of what the receiver answered (capped by T2V_WEBHOOK_RESPONSE_CAP_BYTES).
        "last_response": delivery["last_response"],
        "last_attempt_at": _seconds(delivery["last_attempt_at"]),
        "next_attempt_at": _seconds(delivery["next_attempt_at"]),
        "created_at": _seconds(delivery["created_at"]),
        "delivered_at": _seconds(delivery["delivered_at"]),
    }


def _seconds(value: float | None) -> int | None:
    return None if value is None else int(value)


@router.get("/videos/{video_id}/webhooks", summary="List a video's webhook deliveries")
def list_deliveries(video_id: str, redis: RedisDep, store: StoreDep, owner: OwnerDep):
    _owned(store, video_id, owner)
    data = [delivery_object(d) for d in DeliveryStore(redis).for_video(video_id)]
    return {"object": "list", "data": data}


@router.post("/videos/{video_id}/webhooks/{delivery_id}/retry", summary="Send a webhook delivery again")
def retry_delivery(
    video_id: str,
    delivery_id: str,
    settings: SettingsDep,
    redis: RedisDep,
    store: StoreDep,
    owner: OwnerDep,
    idempotency_key: IdempotencyKey = None,
):
    _owned(store, video_id, owner)
    deliveries = DeliveryStore(redis)
    delivery = deliveries.get(delivery_id)
    if delivery is None or delivery["video_id"] != video_id:
        raise NotFound(f"No webhook delivery {delivery_id!r} for video {video_id}", param="delivery_id")

    def retry() -> dict:
        if (delivery.get("lease_until") or 0) > time.time():
            raise Conflict(f"webhook delivery {delivery_id} is being attempted right now", code="delivery_in_flight")
        return delivery_object(deliveries.retry_now(delivery, settings.webhook_timeout_s))

    # With an Idempotency-Key, a client retrying this POST (a timeout, a dropped connection) gets
    # the first answer back instead of sending the webhook once more.
    return _once(
        redis, settings, owner, idempotency_key, operation=f"webhook-retry:{delivery_id}", body={}, produce=retry
    )
