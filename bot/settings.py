"""Settings from the environment and `.env`; every one is listed in `.env.example`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Operator configuration. Secrets come only from the environment or `.env`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr = Field(default=SecretStr(""), description="the bot token (secret)")
    discord_guild_ids: str = Field(
        default="", description="comma-separated guild ids that get commands synced at start"
    )
    discord_global_sync: bool = Field(
        default=False, description="also sync commands globally at start (slow to propagate)"
    )
    lcm_model: str = Field(default="sd15", description="model family")
    lcm_device: str = Field(default="auto", description="auto, cuda, cuda:N, mps or cpu")
    lcm_dtype: str = Field(default="auto", description="auto, float16, bfloat16 or float32")
    lcm_styles_file: Path | None = Field(
        default=None, description="TOML allow-list of style LoRAs users may pick"
    )
    database_url: str = Field(
        default="sqlite+aiosqlite:///./data/lcm-bot.sqlite3", description="SQLAlchemy URL"
    )
    lcm_compile: str = Field(
        default="", description="torch.compile mode for the UNets (e.g. max-autotune); empty: off"
    )
    lcm_warmup: bool = Field(
        default=True, description="with LCM_COMPILE, compile every batch size before serving"
    )
    lcm_batch_images: int = Field(default=8, ge=1, le=64, description="most images per GPU call")
    lcm_queue_per_user: int = Field(default=5, ge=1, description="waiting jobs per user")
    lcm_queue_total: int = Field(default=200, ge=1, description="waiting jobs in all")
    lcm_cooldown_s: float = Field(default=3.0, ge=0, description="seconds between a user's jobs")
    lcm_job_timeout_s: float = Field(default=120.0, gt=0, description="wall-clock limit per job")
    lcm_max_upload_mb: float = Field(default=25.0, gt=0, description="largest input image, MiB")
    lcm_history_days: int = Field(default=90, ge=1, description="days of job history to keep")

    @field_validator("lcm_styles_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if value in ("", None) else value

    def guild_ids(self) -> list[int]:
        """DISCORD_GUILD_IDS as integers; raises ValueError naming the bad entry."""
        ids = []
        for part in self.discord_guild_ids.replace(" ", "").split(","):
            if not part:
                continue
            if not part.isdigit():
                raise ValueError(f"DISCORD_GUILD_IDS: {part!r} is not a server id (digits only)")
            ids.append(int(part))
        return ids
