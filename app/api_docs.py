"""What the OpenAPI schema says the routes answer: documentation only, never used to serialise.

The handlers build their JSON directly (the hot path skips FastAPI's encoder); these models describe
that JSON so clients and the schema tests (tests/app/test_schemathesis.py) can hold the routes to it.
"""

from typing import Any, Literal

from pydantic import BaseModel

from app.storage import VARIANTS


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class VideoError(BaseModel):
    code: str
    message: str


class Video(BaseModel):
    """OpenAI's `Video` (every field present, null when unset) and the fields this server adds."""

    id: str
    object: Literal["video"]
    model: str
    status: Literal["queued", "in_progress", "completed", "failed", "cancelled"]
    progress: int
    created_at: int
    completed_at: int | None
    expires_at: int | None
    prompt: str
    size: str
    seconds: str
    remixed_from_video_id: str | None
    error: VideoError | None
    revised_prompt: str | None
    prompt_expansion: str | None
    negative_prompt: str | None
    seed: int | None
    num_inference_steps: int | None
    guidance_scale: float | None
    fps: int | None
    num_frames: int | None
    timings: dict[str, Any] | None
    warning: str | None
    # Videos longer than one render: chunks done, the one being rendered, and how many in all.
    chunks: dict[str, int] | None = None
    # 1 is the next job a worker takes; null unless the video is queued (see app/queue_position.py).
    queue_position: int | None


class VideoList(BaseModel):
    object: Literal["list"]
    data: list[Video]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"]
    deleted: Literal[True]


def _error(description: str) -> dict:
    return {"model": ErrorEnvelope, "description": description}


# Every route under /videos, /models and /webhooks can answer these.
ERROR_RESPONSES: dict[int | str, dict] = {
    400: _error("Invalid request: the envelope's `param` names the field"),
    401: _error("Missing or wrong API key (once keys exist)"),
    404: _error("No such object, or another tenant's"),
    409: _error("The object is not in a state that allows this, or an Idempotency-Key conflict"),
    410: _error("The content has expired or is no longer stored"),
    413: _error("The request body is over T2V_MAX_BODY_BYTES"),
    429: _error("A tenant limit was reached; `retry-after` says when to try again"),
    503: _error("Redis is unreachable; `retry-after` says when to try again"),
}

CONTENT_RESPONSE: dict[int | str, dict] = {
    200: {
        "description": "The file (Range requests are honoured)",
        "content": {
            variant.media_type: {"schema": {"type": "string", "format": "binary"}} for variant in VARIANTS.values()
        },
    }
}

# Where a created video's id can be used next (OpenAPI links; the schema tests follow them).
_VIDEO_ID_FROM_BODY = {"video_id": "$response.body#/id"}
CREATED_VIDEO_LINKS = {
    "RetrieveVideo": {"operationId": "retrieve_video_v1_videos__video_id__get", "parameters": _VIDEO_ID_FROM_BODY},
    "CancelVideo": {"operationId": "cancel_video_v1_videos__video_id__cancel_post", "parameters": _VIDEO_ID_FROM_BODY},
    "DownloadContent": {
        "operationId": "download_content_v1_videos__video_id__content_get",
        "parameters": _VIDEO_ID_FROM_BODY,
    },
    "DeleteVideo": {"operationId": "delete_video_v1_videos__video_id__delete", "parameters": _VIDEO_ID_FROM_BODY},
}


def add_links_and_drop_422(schema: dict) -> dict:
    """Attach CREATED_VIDEO_LINKS to video creation, and drop FastAPI's automatic 422 responses:
    this API answers validation errors with 400 and OpenAI's envelope."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            responses.pop("422", None)
            if operation.get("operationId", "").startswith("create_video"):
                responses.setdefault("200", {})["links"] = CREATED_VIDEO_LINKS
    schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
    return schema
