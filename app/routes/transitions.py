"""`POST /videos/transitions` (ours): two completed videos joined by a generated bridge.

`from` and `to` are the caller's completed videos (`{"id": ...}` or the id itself, multipart
`from[id]`); `prompt` describes the bridge and `seconds` its length (at least one clip of the
model; shorter asks are raised to that, with a warning). The bridge starts from the end of
`from` (its final latents when kept) and ends on the first frames of `to`; the delivered video is
`from`, the bridge, then `to`, at `from`'s model, size and frame rate. Its `seconds` is the total.
"""

from typing import Annotated

from fastapi import APIRouter, Depends

from app.api_docs import Video
from app.body import read_body
from app.deps import CatalogDep, OwnerDep, RedisDep, SettingsDep, StorageDep, StoreDep
from app.errors import InvalidRequest
from app.inputs.prepare import PREPARED
from app.inputs.sources import OVERRIDABLE, video_id_of
from app.routes import videos
from app.routes.extensions import (
    INHERITED,
    ContinuationInputs,
    check_total,
    completed_video,
    request_body,
    seconds_text,
)
from app.validation import parse_seconds


router = APIRouter(tags=["videos"])

FORMS = 'send `from` and `to` as video ids: {"from": {"id": "video_..."}, "to": {"id": "video_..."}}'


_REF = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
_FIELDS = {"prompt": {"type": "string", "minLength": 1}, "seconds": {"type": "string"}}
TRANSITIONS_BODY = request_body(
    {**_FIELDS, "from[id]": {"type": "string"}, "to[id]": {"type": "string"}},
    {**_FIELDS, "from": _REF, "to": _REF},
    ["prompt"],
)


@router.post(
    "/videos/transitions",
    summary="Join two completed videos with a bridge",
    openapi_extra=TRANSITIONS_BODY,
    responses={200: {"model": Video}},
)
def transition(
    body: Annotated[dict, Depends(read_body)],
    settings: SettingsDep,
    redis: RedisDep,
    store: StoreDep,
    storage: StorageDep,
    catalog: CatalogDep,
    owner: OwnerDep,
    idempotency_key: videos.IdempotencyKey = None,
):
    for param in ("from", "to"):
        if not body.get(param):
            raise InvalidRequest(f"{param} is required: {FORMS}", param=param)

    def produce() -> dict:
        first = completed_video(store, storage, owner, video_id_of(body["from"]), "from.id")
        last = completed_video(store, storage, owner, video_id_of(body["to"]), "to.id")
        fields = {k: first[k] for k in INHERITED if first.get(k) is not None}
        fields.update({k: body[k] for k in OVERRIDABLE if body.get(k) is not None})
        fps = first["fps"]
        clip = first.get("chunk_frames") or first["num_frames"]
        shortest = clip / fps
        asked = parse_seconds(str(body.get("seconds") or shortest), settings)
        bridge_frames = max(round(asked * fps), clip)
        warnings = []
        if bridge_frames > round(asked * fps):
            warnings.append(f"a bridge takes at least one clip of the model: {seconds_text(shortest)} s")
        # `to` plays at `from`'s frame rate: its length follows its frames.
        first_seconds, last_seconds = first["num_frames"] / fps, last["num_frames"] / fps
        check_total(first_seconds + last_seconds, bridge_frames / fps, settings)
        total = seconds_text(first_seconds + bridge_frames / fps + last_seconds)
        prepared = ContinuationInputs(
            warnings=warnings,
            fields={
                "extends": {
                    "video_id": first["id"],
                    "attempt": first["artifact_attempt"],
                    "frames": first["num_frames"],
                },
                "transition_to": {
                    "video_id": last["id"],
                    "attempt": last["artifact_attempt"],
                    "frames": last["num_frames"],
                },
                "num_frames": first["num_frames"] + bridge_frames + last["num_frames"],
                "seconds": total,
            },
        )
        create = {**fields, "seconds": total, "prompt": body.get("prompt"), PREPARED: prepared}
        return videos._create(create, settings, redis, store, catalog, owner, storage)

    response = videos._once(redis, settings, owner, idempotency_key, operation="transition", body=body, produce=produce)
    response.headers["openai-poll-after-ms"] = str(settings.poll_after_ms)
    return response
