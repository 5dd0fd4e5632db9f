"""`POST /videos/{video_id}/remix`: a new video from a completed one with a new prompt (SDEdit).

It keeps the source's model, size, length and seed (so its motion), re-draws `strength` of it
(our extension, 0-1; the model's default otherwise) and goes through the create path.
"""

from typing import Annotated

from fastapi import APIRouter, Depends

from app.api_docs import Video
from app.body import read_body
from app.deps import CatalogDep, OwnerDep, RedisDep, SettingsDep, StorageDep, StoreDep
from app.inputs import openapi
from app.inputs.prepare import PREPARED, PreparedInputs
from app.inputs.sources import completed_source, inherited, parse_strength
from app.routes import videos
from workers.conditioning import Conditions, SourceVideo


router = APIRouter(tags=["videos"])


def redraw(source_record: dict, mp4: bytes, strength: float, remixed: bool) -> PreparedInputs:
    """Inputs that re-draw a stored source video (its MP4 is copied to the new video)."""
    return PreparedInputs(
        conditions=Conditions(video=SourceVideo(source="input_video", strength=strength)),
        inputs={"input_video": mp4},
        remixed_from=source_record["id"] if remixed else None,
    )


@router.post(
    "/videos/{video_id}/remix",
    summary="Remix a completed video",
    responses={200: {"model": Video}},
    openapi_extra=openapi.REMIX,
)
def remix_video(
    video_id: str,
    body: Annotated[dict, Depends(read_body)],
    settings: SettingsDep,
    redis: RedisDep,
    store: StoreDep,
    storage: StorageDep,
    catalog: CatalogDep,
    owner: OwnerDep,
    idempotency_key: videos.IdempotencyKey = None,
):
    source = videos._owned(store, video_id, owner)

    def produce() -> dict:
        record, mp4 = completed_source(store, storage, lambda s, i: videos._owned(s, i, owner), video_id, "video_id")
        strength = parse_strength(body, catalog[record["model"]])
        create = {
            **inherited(record, body),
            "prompt": body.get("prompt"),
            PREPARED: redraw(record, mp4, strength, True),
        }
        return videos._create(create, settings, redis, store, catalog, owner, storage)

    response = videos._once(
        redis, settings, owner, idempotency_key, operation=f"remix:{source['id']}", body=body, produce=produce
    )
    response.headers["openai-poll-after-ms"] = str(settings.poll_after_ms)
    return response
