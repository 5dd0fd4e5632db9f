"""Source videos for remix, edits and characters: one of the caller's completed videos, or an
uploaded file; and the create fields a re-drawn video takes from its source."""

import math

from app.errors import Conflict, Gone, InvalidRequest, NotFound
from app.inputs.videos import InputVideo, VideoLimits, check_video
from app.records import RecordStore, is_video_id
from app.settings import Settings
from app.status import VideoStatus
from app.storage import Storage
from models.catalog import CatalogEntry


# What a remix keeps from its source unless the request says otherwise: model, size, length,
# and the seed and sampler settings, so the motion stays.
INHERITED = ("model", "size", "seconds", "fps", "seed", "num_inference_steps", "guidance_scale", "negative_prompt")
# Create fields a remix or edit request may still set.
OVERRIDABLE = (
    "seed",
    "num_inference_steps",
    "guidance_scale",
    "negative_prompt",
    "expand_prompt",
    "webhook_url",
    "webhook_events",
)


def video_id_of(value) -> str | None:
    """The id in `{"id": ...}` (JSON, or multipart `video[id]`), or None for an upload."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    if isinstance(value, str):
        return value
    return None


def is_upload(value) -> bool:
    return hasattr(value, "filename") and hasattr(value, "file")


def video_limits(settings: Settings) -> VideoLimits:
    return VideoLimits(
        settings.input_max_video_bytes,
        settings.input_max_video_seconds,
        settings.input_max_video_frames,
        settings.input_max_video_side,
    )


def read_upload(value, param: str, settings: Settings) -> InputVideo:
    return check_video(value.file.read(settings.input_max_video_bytes + 1), param, video_limits(settings))


def completed_source(store: RecordStore, storage: Storage, owned, video_id: str, param: str) -> tuple[dict, bytes]:
    """The caller's completed video and its MP4 (`owned(store, id)` raises 404 for others' ids)."""
    if not is_video_id(video_id):
        # Like any id that is not one of the caller's videos.
        raise NotFound(f"No video found with id {video_id!r}", param=param, code="video_not_found")
    record = owned(store, video_id)
    if record["status"] != VideoStatus.COMPLETED.value or record.get("artifact_attempt") is None:
        raise Conflict(
            f"video {video_id} is {record['status']}; only a completed video can be re-drawn",
            param=param,
            code="video_not_completed",
        )
    if record.get("expired") or not storage.exists(video_id, record["artifact_attempt"], "video"):
        raise Gone(f"the content of video {video_id} is no longer stored", param=param, code="video_expired")
    return record, storage.read_bytes(video_id, record["artifact_attempt"], "video")


def inherited(record: dict, body: dict) -> dict:
    fields = {k: record[k] for k in INHERITED if record.get(k) is not None}
    fields.update({k: body[k] for k in OVERRIDABLE if body.get(k) is not None})
    return fields


def parse_strength(body: dict, entry: CatalogEntry) -> float:
    raw = body.get("strength")
    if raw is None or raw == "":
        return entry.spec.default_strength
    try:
        strength = float(raw)
    except (TypeError, ValueError):
        strength = math.nan
    if not 0.0 < strength <= 1.0:
        raise InvalidRequest(
            f"strength {raw!r} must be a number above 0 and at most 1 (how much of the source is re-drawn)",
            param="strength",
        )
    return strength


def grid_size(entry: CatalogEntry, width: int, height: int) -> str:
    """The model's size closest to a video's aspect, at about the model's default area."""
    spec = entry.spec
    aspect = width / height
    if spec.allowed_sizes:
        return min(
            spec.allowed_sizes, key=lambda s: abs(math.log(int(s.split("x")[0]) / int(s.split("x")[1]) / aspect))
        )
    default_w, default_h = (int(side) for side in spec.default_size.split("x"))
    area = default_w * default_h
    m = spec.spatial_multiple

    def side(value: float) -> int:
        return min(spec.max_side, max(spec.min_side, round(value / m) * m))

    return f"{side(math.sqrt(area * aspect))}x{side(math.sqrt(area / aspect))}"


def clip_seconds(entry: CatalogEntry, seconds: float, fps: int) -> str:
    """The source's length, capped at the longest clip the model makes in one render."""
    spec = entry.spec
    counts = [n for n in (spec.allowed_frame_counts or ()) if n <= spec.max_frames]
    if counts:
        longest = max(counts)
    else:
        rule = spec.frame_rule
        longest = rule.offset + rule.multiple * ((spec.max_frames - rule.offset) // rule.multiple)
    return format(min(seconds, (longest - 1) / fps), ".3g")
