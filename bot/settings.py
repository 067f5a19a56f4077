"""Settings from the environment and `.env`; every one is listed in `.env.example`.

Every setting is checked when it is read. A bad value stops `lcm-bot` before anything slow starts,
with one line per problem naming the variable, what is wrong and what is allowed
(`load_settings` raises `SettingsError`; the command line prints it and exits with status 2).
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from generation.models.families import family_names
from storage.engine import database_url as parse_database_url
from storage.errors import StorageError

# The names generation.models.devices accepts; repeated here so reading settings never imports
# torch.
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
DEVICES_ALLOWED = "auto, cuda, cuda:N (N = 0, 1, …), mps or cpu"
DTYPES = ("auto", "float16", "bfloat16", "float32")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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
    lcm_base: str = Field(
        default="",
        description="a fine-tuned base for the family (hub id or local folder); empty: its own",
    )
    lcm_device: str = Field(default="auto", description="auto, cuda, cuda:N, mps or cpu")
    lcm_dtype: str = Field(default="auto", description="auto, float16, bfloat16 or float32")
    lcm_styles_file: Path | None = Field(
        default=None, description="TOML allow-list of style LoRAs users may pick"
    )
    lcm_blocklist_file: Path | None = Field(
        default=None,
        description="prompt blocklist for every server: one word or phrase a line, re:PATTERN "
        "for a regular expression (RE2), # for comments; empty: none",
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
    lcm_worker: Literal["process", "thread"] = Field(
        default="process",
        description="process: the GPU work runs in a child process that is replaced when it "
        "dies or hangs; thread: in the bot's own process",
    )
    lcm_heartbeat_s: float = Field(
        default=120.0,
        gt=0,
        description="seconds a GPU worker process may go without finishing a step before it is "
        "replaced",
    )
    lcm_devices: str = Field(
        default="",
        description="a GPU worker per device: cuda:0,cuda:1 or all; empty: one, on LCM_DEVICE",
    )
    lcm_ray_address: str = Field(
        default="",
        description="host:port of a Ray cluster's head: the GPU workers run as Ray actors, one "
        "per GPU of the cluster; empty: no Ray",
    )
    lcm_ray_workers: int = Field(
        default=0, ge=0, description="with LCM_RAY_ADDRESS: actors to start; 0: one per GPU"
    )
    lcm_drain_s: float = Field(
        default=20.0, ge=0, description="seconds a stop (SIGINT/SIGTERM) lets running work finish"
    )
    lcm_max_upload_mb: float = Field(default=25.0, gt=0, description="largest input image, MiB")
    lcm_history_days: int = Field(default=90, ge=1, description="days of job history to keep")
    lcm_http_host: str = Field(
        default="127.0.0.1", description="address the /healthz and /metrics endpoint listens on"
    )
    lcm_http_port: int = Field(
        default=8765, ge=0, le=65535, description="port of /healthz and /metrics; 0 turns it off"
    )
    lcm_log_format: Literal["text", "json"] = Field(
        default="text", description="text (for people) or json (one object per line)"
    )
    lcm_log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    # Read by huggingface_hub and the tiny-family builder from the process environment; declared
    # here so that values in `.env` reach them too (see `export_environment`).
    hf_home: str | None = Field(default=None, description="Hugging Face cache for model weights")
    lcm_tiny_cache: str | None = Field(default=None, description="where tiny families are built")
    hf_token: SecretStr = Field(
        default=SecretStr(""),
        description="Hugging Face read token, for gated or private models (secret)",
    )

    @field_validator("lcm_styles_file", "lcm_blocklist_file", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if value in ("", None) else value

    @field_validator("hf_home", "lcm_tiny_cache", mode="before")
    @classmethod
    def _empty_path_is_none(cls, value):
        return None if value in ("", None) else value

    @field_validator("lcm_styles_file")
    @classmethod
    def _styles_file_exists(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        path = value.expanduser()
        if not path.exists():
            raise ValueError(
                f"{path} does not exist (allowed: the path of a TOML style allow-list, see "
                'README "Styles", or empty for no styles)'
            )
        if not path.is_file():
            raise ValueError(f"{path} is not a file (allowed: a TOML style allow-list, or empty)")
        return path

    @field_validator("lcm_blocklist_file")
    @classmethod
    def _blocklist_file_reads(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        from bot.blocklist import BadPattern, load_file

        path = value.expanduser()
        try:
            load_file(path)  # every line compiles, or the start stops here naming the line
        except BadPattern as exc:
            raise ValueError(
                f"{exc} (allowed: a text file, one word or phrase a line, re:PATTERN for a "
                "regular expression, # for comments; or empty for none)"
            ) from None
        return path

    def model_overrides(self) -> dict[str, str]:
        """Components the operator pointed elsewhere (LCM_BASE), for resolve_family."""
        return {"base": self.lcm_base.strip()} if self.lcm_base.strip() else {}

    @field_validator("lcm_model")
    @classmethod
    def _known_family(cls, value: str) -> str:
        if value not in family_names():
            raise ValueError(
                f"unknown model family {value!r} (allowed: {', '.join(family_names())})"
            )
        return value

    @field_validator("lcm_device")
    @classmethod
    def _device_name(cls, value: str) -> str:
        value = value.strip().lower()
        if not DEVICE_PATTERN.match(value):
            raise ValueError(f"unknown device {value!r} (allowed: {DEVICES_ALLOWED})")
        return value

    @field_validator("lcm_dtype")
    @classmethod
    def _dtype_name(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in DTYPES:
            raise ValueError(f"unknown dtype {value!r} (allowed: {', '.join(DTYPES)})")
        return value

    @field_validator("lcm_log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in LOG_LEVELS:
            raise ValueError(f"unknown log level {value!r} (allowed: {', '.join(LOG_LEVELS)})")
        return value

    @field_validator("lcm_log_format", mode="before")
    @classmethod
    def _log_format(cls, value):
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("discord_guild_ids")
    @classmethod
    def _guild_ids(cls, value: str) -> str:
        parse_guild_ids(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            parsed = parse_database_url(value)
        except StorageError as exc:
            raise ValueError(str(exc).removeprefix("DATABASE_URL ")) from None
        if parsed.get_backend_name() == "postgresql" and not importlib.util.find_spec("asyncpg"):
            raise ValueError(
                "is a PostgreSQL URL but the asyncpg driver is not installed "
                "(install it with: pip install 'lcm-bot[postgres]')"
            )
        return value

    def guild_ids(self) -> list[int]:
        """DISCORD_GUILD_IDS as integers."""
        return parse_guild_ids(self.discord_guild_ids)

    def export_environment(self) -> None:
        """Hand HF_HOME, LCM_TINY_CACHE and HF_TOKEN from `.env` to the libraries that read
        os.environ (the worker process inherits them too).

        Call before huggingface_hub is first imported: it reads HF_HOME once, at import.
        """
        for name, value in (("HF_HOME", self.hf_home), ("LCM_TINY_CACHE", self.lcm_tiny_cache)):
            if value:
                os.environ[name] = str(Path(value).expanduser())
        if token := self.hf_token.get_secret_value():
            os.environ["HF_TOKEN"] = token


def parse_guild_ids(text: str) -> list[int]:
    """Comma-separated server ids; raises ValueError naming the bad entry."""
    ids = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        if not part.isdigit() or not 15 <= len(part) <= 21:
            raise ValueError(
                f"{part!r} is not a server id (allowed: comma-separated server ids, 17–20 "
                "digits each; in Discord turn on Developer Mode, then right-click the server "
                "→ Copy Server ID)"
            )
        ids.append(int(part))
    return ids


class SettingsError(Exception):
    """Settings that cannot be used; `problems` holds (VARIABLE, what is wrong) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = [f"  {name}: {problem}" for name, problem in problems]
        super().__init__(
            "the settings (environment and .env) have "
            + (f"{len(problems)} problems" if len(problems) > 1 else "a problem")
            + ":\n"
            + "\n".join(lines)
        )


def settings_problems(error: ValidationError) -> list[tuple[str, str]]:
    """(VARIABLE, message) for each problem pydantic found, without echoing secret values."""
    problems = []
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else "?"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] != "value_error" and field != "discord_token":
            message += f" (got {item.get('input')!r})"
        problems.append((field.upper(), message))
    return problems


def load_settings(**overrides) -> Settings:
    """Settings from the environment and `.env`; raises SettingsError listing every problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(settings_problems(exc)) from None
