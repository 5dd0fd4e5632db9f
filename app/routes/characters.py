"""`POST /videos/characters` and `GET /videos/characters/{character_id}`: a named subject taken
from a video (an upload or one of the caller's completed videos), described once and kept with
a reference frame; prompts that name it get its description (app/characters)."""

import io
from typing import Annotated

from fastapi import APIRouter, Depends
from PIL import Image

from app.body import read_body
from app.characters import store as characters
from app.characters.describe import describe
from app.deps import CatalogDep, OwnerDep, RedisDep, SettingsDep, StorageDep, StoreDep
from app.errors import Conflict, InvalidRequest, NotFound
from app.inputs import openapi
from app.inputs.sources import completed_source, is_upload, read_upload, video_id_of
from app.inputs.videos import sample_frames
from app.routes import videos
from app.routes.edits import VIDEO_FORMS
from app.validation import resolve_model_name


router = APIRouter(tags=["characters"])

# Frames the describer looks at, and the longest side of the stored reference frame.
DESCRIBE_FRAMES = 9
REFERENCE_SIDE = 512


def _name(body: dict) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > characters.MAX_NAME_CHARS:
        raise InvalidRequest(
            f"name must be 1 to {characters.MAX_NAME_CHARS} characters", param="name", code="invalid_name"
        )
    return " ".join(name.split())


def _reference_png(frame) -> bytes:
    image = Image.fromarray(frame)
    image.thumbnail((REFERENCE_SIDE, REFERENCE_SIDE))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@router.post("/videos/characters", summary="Create a character from a video", openapi_extra=openapi.CHARACTERS)
def create_character(
    body: Annotated[dict, Depends(read_body)],
    settings: SettingsDep,
    redis: RedisDep,
    store: StoreDep,
    storage: StorageDep,
    catalog: CatalogDep,
    owner: OwnerDep,
):
    name = _name(body)
    value = body.get("video")
    if is_upload(value):
        mp4 = read_upload(value, "video", settings).data
        model = resolve_model_name(body.get("model"), catalog, settings)
    elif video_id_of(value):
        record, mp4 = completed_source(
            store, storage, lambda s, i: videos._owned(s, i, owner), video_id_of(value), "video.id"
        )
        model = record["model"]
    else:
        raise InvalidRequest(f"video is required: {VIDEO_FORMS}", param="video")
    frames = sample_frames(mp4, DESCRIBE_FRAMES)
    character = characters.new_character(owner, name, "", "none")
    if not characters.claim_name(redis, owner, name, character["id"]):
        raise Conflict(f"a character named {name!r} already exists", param="name", code="character_exists")
    try:
        character["description"], character["description_source"] = describe(
            settings, frames, name, embedded=catalog[model].family == "embedded"
        )
        character["model"] = model
        characters.save(redis, character, _reference_png(frames[len(frames) // 2]))
    except BaseException:
        characters.release_name(redis, owner, name)
        raise
    return characters.public(character)


@router.get("/videos/characters/{character_id}", summary="Retrieve a character")
def get_character(character_id: str, redis: RedisDep, owner: OwnerDep):
    character = characters.get(redis, character_id)
    if character is None or character.get("owner") != owner:
        raise NotFound(f"No character found with id {character_id!r}", param="character_id", code="character_not_found")
    return characters.public(character)
