"""One settings object for every process, read from `T2V_*` environment variables."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="T2V_", env_file=".env", extra="ignore", populate_by_name=True)

    # Where Redis lives. `t2v up` starts an embedded server when this is unset.
    redis_url: str | None = None
    # Redis Sentinel (app/redis_conn.py): comma-separated `host:port` of the sentinels and the name
    # of the primary they watch. When set, the sentinels say where the primary is; `redis_url`
    # then only lends its password and database number.
    redis_sentinels: str = ""
    redis_sentinel_service: str = "t2v"
    # Replicas that must acknowledge a new video before it is accepted (app/replication.py).
    # Unset: 1 with sentinels or while the primary reports a replica, else 0 (one machine).
    redis_min_replicas: int | None = Field(default=None, ge=0)
    redis_replica_ack_timeout_ms: int = Field(default=1000, ge=1, le=60000)
    # Videos, the embedded Redis' AOF and built models live here.
    data_dir: Path = Path("data")
    # Where finished videos are stored: a local directory or S3-compatible object storage.
    storage: Literal["local", "s3"] = "local"
    # The TOML catalog of servable models; the shipped default when unset.
    catalog: Path | None = None
    default_model: str = "embedded"
    # OpenAI's model names map onto catalog entries; empty means the default model.
    sora_2_model: str = ""
    sora_2_pro_model: str = ""

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    # How long clients wait between polls (the `openai-poll-after-ms` header).
    poll_after_ms: int = 1000
    # RQ's defaults (180 s timeout, 500 s result TTL) are wrong for GPU renders.
    job_timeout_s: int = 3600
    job_result_ttl_s: int = 3600
    # A render that died with its worker is tried this many times in all, then failed.
    max_render_attempts: int = 2
    # Workers refresh a liveness key this often; it expires after `worker_ttl_s` without one.
    worker_heartbeat_s: float = 2.0
    worker_ttl_s: int = 10
    # The reconciliation sweep runs this often, and leaves records younger than the grace alone.
    sweep_interval_s: float = 5.0
    sweep_grace_s: float = 5.0
    # RQ's own registry clean-up (abandoned jobs); its default of 600 s is too slow to matter.
    rq_maintenance_interval_s: int = 60
    # RQ's worker key TTL, how often a running job's heartbeat is renewed, and how long past a
    # missed heartbeat RQ waits before calling the job abandoned.
    rq_worker_ttl_s: int = 420
    rq_job_monitoring_interval_s: int = 10
    rq_heartbeat_grace_s: int = 60
    # Queued videos of one model sharing size, frames, steps and guidance that a worker renders in
    # one pipeline call (a catalog entry's `max_batch` overrides it; 1: one at a time), and how
    # long it waits for more to arrive before starting (0: it takes what is queued now).
    max_batch: int = Field(default=1, ge=1)
    batch_gather_s: float = Field(default=0.0, ge=0, le=10)
    # CPU threads a render worker's torch uses. Unset: OMP_NUM_THREADS where it is set, else one
    # fewer than the cores this process may run on (at least one), so the API, Redis and the MP4
    # encoder keep a core: OpenMP threads that lose a core to them stall each other (workers/threads.py).
    torch_threads: int | None = Field(default=None, ge=1)
    # How long a worker that finished a render waits for a restarting Redis to record it.
    redis_outage_budget_s: float = 120.0
    # MiB of model weights a render worker keeps ready at once; models beyond it take turns
    # (least recently used swapped out). Unset: 75% of the GPU on CUDA, no limit on CPU.
    resident_budget_mb: int | None = Field(default=None, ge=1)
    # Seconds a video's files are kept after it is created; 0 keeps them forever.
    video_ttl_s: int = Field(default=7 * 24 * 3600, ge=0)
    # Seconds an expired video's record (id, prompt, status) still answers after its files went;
    # then it is forgotten (404) and Redis holds nothing of it. 0 keeps records forever.
    expired_record_ttl_s: int = Field(default=30 * 24 * 3600, ge=0)

    max_prompt_chars: int = 32000
    # The longest video a request may ask for; lengths beyond a model's clip are made in chunks.
    max_seconds: int = Field(default=60, ge=1, le=3600)
    max_list_limit: int = 100

    # --- API keys, tenants and limits (app/auth.py, app/limits.py) ---
    # Without API keys the server is open to anyone who can reach it, so it then only binds to a
    # loopback address unless this is set.
    allow_open_network: bool = False
    # Requests per minute per tenant (API-key holders); 0 turns the limit off.
    rate_limit_per_minute: int = Field(default=600, ge=0)
    # Unfinished (queued or in progress) videos one tenant may have at once; 0 turns it off.
    max_active_videos_per_tenant: int = Field(default=50, ge=0)
    # Requests with a larger body are refused with 413 before they are parsed. The API takes no
    # uploads (image-to-video is refused), so this bounds uploads too.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # How long a POST's `Idempotency-Key` is remembered (its replay returns the first response).
    idempotency_ttl_s: int = Field(default=24 * 3600, ge=60)
    # Event streams (`GET /v1/videos/{id}/events`) one tenant may hold open at once; 0: no limit.
    max_streams_per_tenant: int = Field(default=16, ge=0)
    # Share of the denoising time a worker may spend on preview images (0 turns previews off).
    preview_budget_share: float = Field(default=0.03, ge=0, le=1)
    # A bearer token `GET /metrics` requires when set (metrics name models, queues and volumes).
    metrics_token: str = ""

    # --- image and video inputs (app/inputs): input_reference, remix, edits, characters ---
    # POST bodies of the routes that take uploads (create, edits, extensions, characters) may be
    # this large; every other body stays under max_body_bytes.
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # OpenAI's cap for an input image (a file, an https or a data: URL).
    input_max_image_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # Decoded size cap (a small file can hold a huge image: a decompression bomb).
    input_max_image_pixels: int = Field(default=40_000_000, ge=1)
    input_max_video_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    input_max_video_seconds: float = Field(default=60.0, gt=0)
    input_max_video_frames: int = Field(default=1800, ge=1)
    input_max_video_side: int = Field(default=4096, ge=16)
    # The whole fetch of an image URL, connect to last byte; slower is a 400, not a hung request.
    input_fetch_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Host names and CIDR networks an image URL may point to although private; plain http is
    # accepted only for these (private deployments, tests). Everything else: https to public hosts.
    input_url_allowed_hosts: str = ""

    # --- webhooks (app/webhooks) ---
    # Signing secrets `whsec_<base64>`, comma or space separated: each delivery is signed with
    # all of them, so receivers can rotate. Webhooks are off without one.
    webhook_secret: str = ""
    # Comma-separated endpoints that receive every event of every video.
    webhook_urls: str = ""
    # Comma-separated host names and CIDR networks exempt from the private-address refusal.
    webhook_allowed_hosts: str = ""
    # Per connect/read/write; a receiver slower than this counts as a failed attempt.
    webhook_timeout_s: float = Field(default=15.0, gt=0, le=300)
    webhook_max_attempts: int = Field(default=10, ge=1)
    # Seconds before each retry (Standard Webhooks' schedule); the last value repeats.
    webhook_retry_schedule_s: str = "5,300,1800,7200,18000,36000,50400,72000,86400"
    # How much of a receiver's response body is read (and kept for the delivery listing).
    webhook_response_cap_bytes: int = Field(default=1024, ge=0, le=65536)

    @model_validator(mode="after")
    def _webhook_settings_parse(self):
        from app.webhooks.config import WebhookConfig

        WebhookConfig.from_settings(self)
        return self

    # --- prompt expansion (an OpenAI-compatible chat model rewrites prompts into captions) ---
    # The endpoint and key; the openai client's own OPENAI_* variables apply when these are unset.
    # Either one being set means an LLM is configured (a key alone means OpenAI's own endpoint).
    llm_base_url: str | None = Field(default=None, validation_alias=AliasChoices("T2V_LLM_BASE_URL", "OPENAI_BASE_URL"))
    llm_api_key: str | None = Field(default=None, validation_alias=AliasChoices("T2V_LLM_API_KEY", "OPENAI_API_KEY"))
    llm_model: str = "gpt-4o-mini"
    # Seconds one chat completion may take; each retry gets as long again.
    llm_timeout_s: float = Field(default=30.0, gt=0, le=600)
    # Retries after a timeout, a 5xx or a 429, with exponential backoff from `llm_backoff_s`.
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_backoff_s: float = Field(default=1.0, ge=0, le=60)
    # A 429 whose retry-after asks for longer than this is not waited for: the prompt passes through.
    llm_max_retry_after_s: float = Field(default=30.0, ge=0, le=600)
    llm_temperature: float = Field(default=0.3, ge=0, le=2)
    llm_max_tokens: int = Field(default=400, ge=16, le=8192)
    # A longer reply is not a caption (or would be truncated by the text encoder anyway).
    llm_max_caption_chars: int = Field(default=2000, ge=64, le=32000)
    # How long an expansion stays cached per (family, prompt, system prompt); 0 turns caching off.
    llm_cache_ttl_s: int = Field(default=7 * 24 * 3600, ge=0)
    # Whether requests without `expand_prompt` are expanded (only where an expander is available).
    expand_prompts: bool = True

    @field_validator("llm_base_url", "llm_api_key", mode="before")
    @classmethod
    def _blank_means_unset(cls, value):
        # `OPENAI_BASE_URL=` in an env file means "not set", not "an empty URL".
        return value if value is None or str(value).strip() else None

    @field_validator("llm_base_url")
    @classmethod
    def _llm_url_is_http(cls, value: str | None):
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"llm_base_url {value!r} must start with http:// or https://")
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
