"""One settings object for every process, read from `T2V_*` environment variables."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="T2V_", env_file=".env", extra="ignore")

    # Where Redis lives. `t2v up` starts an embedded server when this is unset.
    redis_url: str | None = None
    # Videos, the embedded Redis' AOF and built models live here.
    data_dir: Path = Path("data")
    # Where finished videos are stored: a local directory or S3-compatible object storage.
    storage: Literal["local", "s3"] = "local"
    # The TOML catalog of servable models; the shipped default when unset.
    catalog: Path | None = None
    default_model: str = "tiny-wan"
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
    # Seconds a video's files are kept after it is created; 0 keeps them forever.
    video_ttl_s: int = Field(default=7 * 24 * 3600, ge=0)

    max_prompt_chars: int = 32000
    max_list_limit: int = 100


@lru_cache
def get_settings() -> Settings:
    return Settings()
