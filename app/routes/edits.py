"""`POST /videos/edits`: re-draw a video with a prompt (SDEdit): one of the caller's completed
videos (`video` = `{"id": ...}`, multipart `video[id]`) or an uploaded one, probed and decoded
first and fitted to the model's grid. Goes through the create path like remix."""

from typing import Annotated

from fastapi import APIRouter, Depends

from app.api_docs import Video
from app.body import read_body
from app.deps import CatalogDep, OwnerDep, RedisDep, SettingsDep, StorageDep, StoreDep
from app.errors import InvalidRequest
from app.inputs import openapi
from app.inputs.prepare import PREPARED, PreparedInputs
from app.inputs.sources import (
    OVERRIDABLE,
    clip_seconds,
    completed_source,
    grid_size,
    inherited,
    is_upload,
    parse_strength,
    read_upload,
    video_id_of,
)
from app.routes import videos
from app.routes.remix import redraw
from app.validation import resolve_model_name
from workers.conditioning import Conditions, SourceVideo


router = APIRouter(tags=["videos"])

VIDEO_FORMS = 'send `video` as an MP4 file, as multipart `video[id]`, or as JSON {"video": {"id": "video_..."}}'


@router.post(
    "/videos/edits",
    summary="Edit a video with a prompt",
    responses={200: {"model": Video}},
    openapi_extra=openapi.EDITS,
)
def edit_video(
    body: Annotated[dict, Depends(read_body)],
    settings: SettingsDep,
    redis: RedisDep,
    store: StoreDep,
    storage: StorageDep,
    catalog: CatalogDep,
    owner: OwnerDep,
    idempotency_key: videos.IdempotencyKey = None,
):
    value = body.get("video")
    if not value:
        raise InvalidRequest(f"video is required: {VIDEO_FORMS}", param="video")

    def produce() -> dict:
        if is_upload(value):
            upload = read_upload(value, "video", settings)
            model = resolve_model_name(body.get("model"), catalog, settings)
            entry = catalog[model]
            fps = entry.spec.native_fps
            fields = {
                "model": model,
                "size": body.get("size") or grid_size(entry, upload.width, upload.height),
                "seconds": body.get("seconds") or clip_seconds(entry, upload.seconds, fps),
                **{k: body[k] for k in OVERRIDABLE if body.get(k) is not None},
            }
            strength = parse_strength(body, entry)
            prepared = PreparedInputs(
                conditions=Conditions(video=SourceVideo(source="input_video", strength=strength)),
                inputs={"input_video": upload.data},
            )
        else:
            video_id = video_id_of(value)
            if not video_id:
                raise InvalidRequest(f"video: {VIDEO_FORMS}", param="video")
            record, mp4 = completed_source(
                store, storage, lambda s, i: videos._owned(s, i, owner), video_id, "video.id"
            )
            fields = inherited(record, body)
            prepared = redraw(record, mp4, parse_strength(body, catalog[record["model"]]), remixed=False)
        create = {**fields, "prompt": body.get("prompt"), PREPARED: prepared}
        return videos._create(create, settings, redis, store, catalog, owner, storage)

    response = videos._once(redis, settings, owner, idempotency_key, operation="edit", body=body, produce=produce)
    response.headers["openai-poll-after-ms"] = str(settings.poll_after_ms)
    return response
