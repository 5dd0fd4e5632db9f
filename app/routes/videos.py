"""`/videos` (mounted again under `/v1`): the OpenAI Videos API."""

from collections.abc import Callable
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis import Redis

from app import videos_service
from app.api_docs import CONTENT_RESPONSE, Video, VideoDeleted, VideoList
from app.auth import OPEN_TENANT
from app.body import read_body
from app.commit import commit_async
from app.deps import OwnerDep, RedisDep, SettingsDep, StorageDep, StoreDep
from app.errors import Conflict, Gone, InvalidRequest, NotFound
from app.events.preview_content import serve_preview
from app.expansion.plan import prepare as prepare_expansion
from app.expansion.plan import warn_without_expander
from app.idempotency import HEADER as IDEMPOTENCY_HEADER
from app.idempotency import MAX_KEY_CHARS as MAX_IDEMPOTENCY_KEY_CHARS
from app.idempotency import run_once
from app.inputs.prepare import prepare_inputs
from app.liveness import recent_live_models
from app.queue_position import add_queue_positions, position_from
from app.records import RecordStore, is_video_id
from app.redis_conn import BlockingCall, no_blocking_calls
from app.schemas import CreateVideoRequest, video_object
from app.settings import Settings
from app.status import VideoStatus
from app.storage import VARIANTS, Storage
from app.validation import resolve_request
from app.webhooks.subscriptions import subscription_fields
from models.catalog import Catalog


router = APIRouter(tags=["videos"])


class _JSON(JSONResponse):
    """Starlette's JSON answer (compact, UTF-8), written by orjson: the create route's is the
    hottest body this API writes."""

    def render(self, content) -> bytes:
        return orjson.dumps(content)


_CREATE_BODY_SCHEMA = {"$ref": "#/components/schemas/CreateVideoRequest"}
_CREATE_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _CREATE_BODY_SCHEMA},
            "application/json": {"schema": _CREATE_BODY_SCHEMA},
        },
    }
}


def _owned(store: RecordStore, video_id: str, owner: str) -> dict:
    # Someone else's video is indistinguishable from a missing one.
    record = store.get(video_id) if is_video_id(video_id) else None
    if record is None or record.get("owner") != owner:
        raise NotFound(f"No video found with id {video_id!r}", param="video_id", code="video_not_found")
    return record


def _parse_create(body: dict) -> CreateVideoRequest:
    try:
        return CreateVideoRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidRequest(f"{param}: {first['msg']}", param=param) from None


# A POST with this header is done once: its retries get the first response (app/idempotency.py).
IdempotencyKey = Annotated[
    str | None, Header(alias=IDEMPOTENCY_HEADER, min_length=1, max_length=MAX_IDEMPOTENCY_KEY_CHARS)
]


def _once(
    redis: Redis,
    settings: Settings,
    owner: str,
    key: str | None,
    *,
    operation: str,
    body: dict,
    produce: Callable[[], dict],
) -> JSONResponse:
    """`produce()` as a JSON response; with an idempotency key, at most once per key and body."""
    if key is None:
        return _JSON(produce())
    response, replayed = run_once(
        redis, tenant=owner, operation=operation, key=key, body=body, ttl_s=settings.idempotency_ttl_s, produce=produce
    )
    return _JSON(response, headers={"idempotent-replayed": "true"} if replayed else {})


@router.post("/videos", openapi_extra=_CREATE_OPENAPI, summary="Create a video", responses={200: {"model": Video}})
async def create_video(request: Request, owner: OwnerDep, idempotency_key: IdempotencyKey = None):
    # The hottest route: async, so a plain create never waits for a thread; its state comes
    # straight from the app rather than through one dependency each.
    state = request.app.state
    body = await read_body(request)
    response = None
    if idempotency_key is None:
        response = await _create_on_loop(state, body, owner)
    if response is None:
        response = await run_in_threadpool(
            _once,
            state.redis,
            state.settings,
            owner,
            idempotency_key,
            operation="create",
            body=body,
            produce=lambda: _create(
                body, state.settings, state.redis, state.store, state.catalog, owner, state.storage
            ),
        )
    response.headers["openai-poll-after-ms"] = str(state.settings.poll_after_ms)
    return response


async def _create_on_loop(state, body: dict, owner: str) -> JSONResponse | None:
    """A create whose one round trip the event loop sends itself (the asyncio client). What it
    reads is usually cached; when a cached answer has expired, the preparation alone moves to a
    thread (and refreshes it). None when the create has inputs to fetch or store or a webhook URL
    to resolve: `_create` does those in a thread."""
    if body.get("input_reference") or body.get("webhook_url") is not None:
        return None
    args = (body, state.settings, state.redis, state.store, state.catalog, owner)
    try:
        with no_blocking_calls():
            record, inputs, active_limit, writes = _prepare_writes(*args)
    except BlockingCall:
        record, inputs, active_limit, writes = await run_in_threadpool(_prepare_writes, *args)
    if inputs.inputs:
        return None
    index = await commit_async(state.async_redis.current(), owner, active_limit, writes)
    after = (state.redis, state.store, record, state.settings)
    try:
        with no_blocking_calls():
            videos_service.after_commit(*after)
    except BlockingCall:
        await run_in_threadpool(videos_service.after_commit, *after)
    record["queue_position"] = position_from(index)
    return _JSON(video_object(record))


def _prepare_writes(body: dict, settings: Settings, redis: Redis, store: RecordStore, catalog: Catalog, owner: str):
    record, inputs, active_limit = _prepare(body, settings, redis, catalog, owner)
    return record, inputs, active_limit, videos_service.queue_writes(redis, store, record, settings)


def _prepare(body: dict, settings: Settings, redis: Redis, catalog: Catalog, owner: str) -> tuple:
    """(record, inputs, active limit) of a new video, checked and ready to submit."""
    req = _parse_create(body)
    resolved = resolve_request(req, catalog, settings)
    inputs = prepare_inputs(body, req.prompt, resolved, catalog, settings, redis, owner)
    record = videos_service.new_record(owner, req.prompt, resolved, req.seed, settings)
    inputs.apply(record)
    record.update(subscription_fields(req.webhook_url, req.webhook_events, settings))
    prepare_expansion(record, req.expand_prompt, catalog[resolved.model], settings)
    if resolved.model not in recent_live_models(redis):
        note = f"no live worker serves model {resolved.model!r} yet; the video waits in the queue"
        record["warning"] = f"{record['warning']}; {note}" if record.get("warning") else note
    warn_without_expander(record, redis)
    active_limit = settings.max_active_videos_per_tenant if owner != OPEN_TENANT else 0
    return record, inputs, active_limit


def _create(
    body: dict, settings: Settings, redis: Redis, store: RecordStore, catalog: Catalog, owner: str, storage: Storage
) -> dict:
    """Create, and remix and edits too: their routes hand over prepared inputs (app/inputs)."""
    record, inputs, active_limit = _prepare(body, settings, redis, catalog, owner)
    with inputs.stored(storage, record):
        record["queue_position"] = videos_service.submit(redis, store, record, settings, active_limit)
    # A ready JSONResponse (see _once) skips FastAPI's generic encoder: this is the hottest route.
    return video_object(record)


@router.get("/videos", summary="List videos", responses={200: {"model": VideoList}})
def list_videos(
    settings: SettingsDep,
    redis: RedisDep,
    store: StoreDep,
    owner: OwnerDep,
    # Any string, as OpenAI's spec has it: one that is not a video of this owner gives an empty page.
    after: Annotated[str | None, Query(description="the last video id of the previous page")] = None,
    # 0 is allowed (the spec's range is 0-100): an empty page whose `has_more` says whether any exist.
    limit: Annotated[int, Query(ge=0, le=100)] = 20,
    order: Literal["asc", "desc"] = "desc",
):
    limit = min(limit, settings.max_list_limit)
    ids, has_more = store.page(owner, after=after, limit=limit, descending=order == "desc")
    data = [video_object(r) for r in add_queue_positions(redis, store.get_many(ids))]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


@router.get("/videos/{video_id}", summary="Retrieve a video", responses={200: {"model": Video}})
def retrieve_video(
    video_id: str, response: Response, settings: SettingsDep, redis: RedisDep, store: StoreDep, owner: OwnerDep
):
    record = _owned(store, video_id, owner)
    if not VideoStatus(record["status"]).is_terminal():
        response.headers["openai-poll-after-ms"] = str(settings.poll_after_ms)
    return video_object(add_queue_positions(redis, [record])[0])


@router.delete(
    "/videos/{video_id}",
    summary="Delete a video (cancels it if it is running)",
    responses={200: {"model": VideoDeleted}},
)
def delete_video(video_id: str, redis: RedisDep, store: StoreDep, storage: StorageDep, owner: OwnerDep):
    record = _owned(store, video_id, owner)
    videos_service.delete(redis, store, storage, record)
    return {"id": video_id, "object": "video.deleted", "deleted": True}


@router.post("/videos/{video_id}/cancel", summary="Cancel a queued or running video", responses={200: {"model": Video}})
def cancel_video(
    video_id: str,
    settings: SettingsDep,
    redis: RedisDep,
    store: StoreDep,
    owner: OwnerDep,
    idempotency_key: IdempotencyKey = None,
):
    record = _owned(store, video_id, owner)
    return _once(
        redis,
        settings,
        owner,
        idempotency_key,
        operation=f"cancel:{video_id}",
        body={},
        produce=lambda: video_object(add_queue_positions(redis, [videos_service.cancel(redis, store, record)])[0]),
    )


@router.get(
    "/videos/{video_id}/content",
    summary="Download the video, its thumbnail or spritesheet",
    responses=CONTENT_RESPONSE,
)
def download_content(
    video_id: str,
    request: Request,
    store: StoreDep,
    storage: StorageDep,
    owner: OwnerDep,
    variant: Literal["video", "thumbnail", "spritesheet", "preview"] = "video",
):
    record = _owned(store, video_id, owner)
    if variant == "preview":
        return serve_preview(record, storage, request)
    if record.get("expired"):
        raise Gone(f"the content of video {video_id} has expired", code="video_expired")
    if record["status"] != VideoStatus.COMPLETED.value or record.get("artifact_attempt") is None:
        raise Conflict(
            f"video {video_id} is {record['status']}; content is available once it is completed",
            code="video_not_ready",
        )
    attempt = record["artifact_attempt"]
    if not storage.exists(video_id, attempt, variant):
        raise Gone(f"the {VARIANTS[variant].name} of video {video_id} is no longer stored", code="content_missing")
    return storage.serve(video_id, attempt, variant, request)
