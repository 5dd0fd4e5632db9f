"""`POST /videos/extensions`: a finished video made longer.

`video` is one of the caller's completed videos (`{"id": ...}` in JSON, multipart `video[id]`) or
an uploaded MP4; `seconds` is the length to add (OpenAI's 4-20, here anything up to the cap);
`prompt` says what happens next. The result is a new video of the stitched length (its `seconds`
is the total): the source's frames, then chunks that continue from its last frames (its final
latents when this server made it; see workers/longvideo). It keeps the source's model, size,
frame rate and sampler settings.
"""

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends

from app.api_docs import Video
from app.body import read_body
from app.deps import CatalogDep, OwnerDep, RedisDep, SettingsDep, StorageDep, StoreDep
from app.errors import Conflict, Gone, InvalidRequest
from app.inputs.prepare import PREPARED, PreparedInputs
from app.inputs.sources import OVERRIDABLE, grid_size, is_upload, read_upload, video_id_of
from app.records import RecordStore, is_video_id
from app.routes import videos
from app.settings import Settings
from app.status import VideoStatus
from app.storage import Storage
from app.validation import SORA_SIZES, parse_seconds, resolve_model_name


router = APIRouter(tags=["videos"])

VIDEO_FORMS = 'send `video` as an MP4 file, as multipart `video[id]`, or as JSON {"video": {"id": "video_..."}}'
_VIDEO_REF = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
_PROMPT = {"type": "string", "minLength": 1}
_SECONDS = {"type": "string", "description": "Seconds to add (OpenAI: 4-20; here up to T2V_MAX_SECONDS in all)."}


def request_body(multipart: dict, json: dict, required: list[str]) -> dict:
    """The OpenAPI request body of a route that reads its body itself (multipart or JSON)."""

    def schema(properties: dict) -> dict:
        return {"type": "object", "required": required, "properties": properties}

    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": schema(multipart)},
                "application/json": {"schema": schema(json)},
            },
        }
    }


EXTENSIONS_BODY = request_body(
    {
        "prompt": _PROMPT,
        "seconds": _SECONDS,
        "video": {"type": "string", "format": "binary"},
        "model": {"type": "string"},
    },
    {"prompt": _PROMPT, "seconds": _SECONDS, "video": _VIDEO_REF},
    ["prompt", "seconds", "video"],
)
# Settings a continuation takes over from the video it continues.
INHERITED = ("model", "size", "fps", "seed", "num_inference_steps", "guidance_scale", "negative_prompt")


@dataclass
class ContinuationInputs(PreparedInputs):
    """Prepared inputs that also set the record fields of a continuation (workers/longvideo
    reads `extends`, `transition_to` and `loop`), and its exact length."""

    fields: dict = field(default_factory=dict)

    def apply(self, record: dict) -> None:
        super().apply(record)
        record.update(self.fields)


def seconds_text(value: float) -> str:
    return format(round(value, 3), "g")


def completed_video(store: RecordStore, storage: Storage, owner: str, video_id: str | None, param: str) -> dict:
    """One of the caller's videos with its MP4 still stored: 404 for others', 409 unfinished."""
    if not video_id or not is_video_id(video_id):
        raise InvalidRequest(f"{param}: {video_id!r} is not a video id", param=param, code="invalid_video_id")
    record = videos._owned(store, video_id, owner)
    if record["status"] != VideoStatus.COMPLETED.value or record.get("artifact_attempt") is None:
        raise Conflict(
            f"video {video_id} is {record['status']}; only a completed video can be continued",
            param=param,
            code="video_not_completed",
        )
    if record.get("expired") or not storage.exists(video_id, record["artifact_attempt"], "video"):
        raise Gone(f"the content of video {video_id} is no longer stored", param=param, code="video_expired")
    return record


def check_total(source_seconds: float, added: float, settings: Settings, param: str = "seconds") -> None:
    if source_seconds + added > settings.max_seconds:
        remaining = max(0.0, settings.max_seconds - source_seconds)
        raise InvalidRequest(
            f"seconds: the video is {seconds_text(source_seconds)} s long and this server's cap is "
            f"{settings.max_seconds} s (T2V_MAX_SECONDS): at most {seconds_text(remaining)} more seconds can be added",
            param=param,
            code="over_max_seconds",
        )


@router.post(
    "/videos/extensions",
    summary="Extend a completed video",
    openapi_extra=EXTENSIONS_BODY,
    responses={200: {"model": Video}},
)
def extend_video(
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
    if body.get("seconds") in (None, ""):
        raise InvalidRequest(
            f"seconds is required: how many seconds to add, up to {settings.max_seconds}", param="seconds"
        )

    def produce() -> dict:
        added = parse_seconds(str(body["seconds"]), settings)
        if is_upload(value):
            upload = read_upload(value, "video", settings)
            model = resolve_model_name(body.get("model"), catalog, settings)
            fps = catalog[model].spec.native_fps
            own_size = f"{upload.width}x{upload.height}"
            # A Sora size stays (rendered at the nearest native size); others go to the model's grid.
            size = own_size if own_size in SORA_SIZES else grid_size(catalog[model], upload.width, upload.height)
            fields = {"model": model, "size": body.get("size") or size, "fps": fps}
            # The upload's frames play at the model's frame rate: its length follows its frames.
            source_frames, source_seconds = upload.frames, upload.frames / fps
            data, source_ref = upload.data, {}
        else:
            source = completed_video(store, storage, owner, video_id_of(value), "video.id")
            fields = {k: source[k] for k in INHERITED if source.get(k) is not None}
            fps, source_frames, source_seconds = source["fps"], source["num_frames"], float(source["seconds"])
            data = storage.read_bytes(source["id"], source["artifact_attempt"], "video")
            source_ref = {"video_id": source["id"]}
        check_total(source_seconds, added, settings)
        fields.update({k: body[k] for k in OVERRIDABLE if body.get(k) is not None})
        num_frames = source_frames + round(added * fps)
        total = seconds_text(source_seconds + added)
        prepared = ContinuationInputs(
            inputs={"input_video": data},
            fields={
                "extends": {"input": "input_video", "frames": source_frames, **source_ref},
                "num_frames": num_frames,
                "seconds": total,
            },
        )
        create = {**fields, "seconds": total, "prompt": body.get("prompt"), PREPARED: prepared}
        return videos._create(create, settings, redis, store, catalog, owner, storage)

    response = videos._once(redis, settings, owner, idempotency_key, operation="extend", body=body, produce=produce)
    response.headers["openai-poll-after-ms"] = str(settings.poll_after_ms)
    return response
