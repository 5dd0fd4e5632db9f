"""`/videos/{id}/events` (mounted again under `/v1`): a video's life as Server-Sent Events."""

from typing import Annotated

from fastapi import APIRouter, Header, Request
from sse_starlette import EventSourceResponse

from app.deps import OwnerDep, SettingsDep
from app.errors import NotFound
from app.events import sse
from app.events.slots import StreamSlot
from app.records import is_video_id


router = APIRouter(tags=["videos"])

_STREAM_RESPONSE = {
    200: {
        "description": (
            "`text/event-stream`: `queued`, `expanding`, `loading`, `progress`, `preview`, then one of "
            "`completed`, `failed`, `cancelled` (with the video object), after which the stream closes. "
            "Each event's `id` is its place in the stream: send it back as `Last-Event-ID` to resume."
        ),
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def _events_client(request: Request):
    state = request.app.state
    if getattr(state, "events_redis", None) is None:
        state.events_redis = sse.async_redis(state.settings)
    return state.events_redis


@router.get(
    "/videos/{video_id}/events",
    summary="Stream a video's events (Server-Sent Events)",
    response_class=EventSourceResponse,
    responses=_STREAM_RESPONSE,
)
async def video_events(
    video_id: str,
    request: Request,
    settings: SettingsDep,
    owner: OwnerDep,
    last_event_id: Annotated[
        str,
        Header(
            alias="Last-Event-ID",
            # Empty or a stream entry id (what the events' `id` fields hold).
            pattern=rf"^({sse.STREAM_ID_RE.pattern.strip('^$')})?$",
            description="The `id` of the last event received: the stream resumes after it",
        ),
    ] = "",
):
    after = last_event_id or None
    redis = _events_client(request)
    # Everything that can refuse happens before the stream opens, as an ordinary JSON error.
    record = await sse.read_record(redis, video_id) if is_video_id(video_id) else None
    if record is None or record.get("owner") != owner:
        raise NotFound(f"No video found with id {video_id!r}", param="video_id", code="video_not_found")
    slot = StreamSlot(redis, owner)
    await slot.acquire(settings.max_streams_per_tenant)
    return EventSourceResponse(
        sse.events(redis, video_id, after, slot, record),
        ping=sse.KEEP_ALIVE_S,
        send_timeout=sse.SEND_TIMEOUT_S,
        # Proxies (nginx) must pass each event on at once.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
