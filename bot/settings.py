"""Settings from the environment and `.env`; every one is listed in `.env.example`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Operator configuration. Secrets come only from the environment or `.env`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: str = Field(default="", repr=False, description="the bot token (secret)")
    discord_guild_ids: str = Field(
        default="", description="comma-separated guild ids that get commands synced at once"
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
