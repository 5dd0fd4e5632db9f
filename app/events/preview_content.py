"""`GET /v1/videos/{id}/content?variant=preview`: the latest preview image of a render."""

from starlette.requests import Request
from starlette.responses import Response

from app.errors import Conflict, Gone
from app.storage import Storage


def serve_preview(record: dict, storage: Storage, request: Request) -> Response:
    video_id = record["id"]
    if record.get("expired"):
        raise Gone(f"the content of video {video_id} has expired", code="video_expired")
    # A finished video keeps the preview of the attempt that made it; a running one shows its own.
    attempt = record.get("artifact_attempt")
    if attempt is None:
        attempt = record.get("attempts") or 0
    if not attempt or not storage.exists(video_id, attempt, "preview"):
        raise Conflict(f"video {video_id} has no preview yet", code="preview_not_ready")
    response = storage.serve(video_id, attempt, "preview", request)
    # The address stays the same while the image changes.
    response.headers["Cache-Control"] = "no-store"
    return response
