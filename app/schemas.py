"""Request parsing and the public shape of a video (OpenAI's `Video` plus our fields)."""

from pydantic import BaseModel, ConfigDict, Field, field_validator


# OpenAI's Video fields, in its order; every one is always present (null when unset).
OPENAI_VIDEO_FIELDS = (
    "id",
    "object",
    "model",
    "status",
    "progress",
    "created_at",
    "completed_at",
    "expires_at",
    "prompt",
    "size",
    "seconds",
    "remixed_from_video_id",
    "error",
)
# What we add: enough to reproduce a result and to see where the time went.
EXTRA_VIDEO_FIELDS = (
    "revised_prompt",
    "prompt_expansion",
    "negative_prompt",
    "seed",
    "num_inference_steps",
    "guidance_scale",
    "fps",
    "num_frames",
    "timings",
    "warning",
    # A video longer than one render: {"done", "current", "total"} chunks (workers/longvideo).
    "chunks",
    # Set when the video is read (app/queue_position.py), not stored.
    "queue_position",
)


class CreateVideoRequest(BaseModel):
    """Fields of `POST /videos`; unknown ones are ignored (the openai SDK's `extra_body`)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)

    prompt: str = Field(min_length=1)
    model: str | None = None
    seconds: str | None = None
    size: str | None = None
    negative_prompt: str | None = None
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    num_inference_steps: int | None = Field(default=None, ge=1)
    guidance_scale: float | None = Field(default=None, ge=0, le=50)
    fps: int | None = Field(default=None, ge=1, le=120)
    # Our extension: the last frame flows back into the first (workers/longvideo renders a bridge).
    loop: bool | None = None
    # Rewrite the prompt into the model's caption style first; unset follows the server's default.
    expand_prompt: bool | None = None
    # Where to POST this video's events, and which (default: the terminal ones); see app/webhooks.
    webhook_url: str | None = None
    webhook_events: list[str] | None = None

    @field_validator("webhook_events", mode="before")
    @classmethod
    def _events_as_list(cls, value):
        # Multipart sends one comma-separated string, or the list that repeated fields make.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds_as_text(cls, value):
        # The SDK sends a string; JSON users send numbers. Keep the caller's spelling.
        if isinstance(value, bool):
            raise ValueError("must be a number of seconds")
        if isinstance(value, (int, float)):
            return format(value, "g")
        return value

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str):
        if not value.strip():
            raise ValueError("must not be blank")
        return value


def video_object(record: dict) -> dict:
    return {name: record.get(name) for name in (*OPENAI_VIDEO_FIELDS, *EXTRA_VIDEO_FIELDS)}
