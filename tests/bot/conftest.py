"""The bot end to end: real discord.py, a strict loopback Discord, tiny models and SQLite."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bot.app import LcmBot
from bot.member_limits import engine_queue_ceiling
from bot.settings import Settings
from generation.engine import Engine, EngineConfig
from generation.models.styles import StyleLibrary
from generation.modes.requests import GenerationRequest
from storage import migrate
from storage.database import Database
from tests.conftest import _write_styles
from tests.discord_double import DiscordDouble, Limits
from tests.generation.engine_helpers import FaultyRunner

TINY_PIXELS = 64 * 64


class RecordingRunner(FaultyRunner):
    """The fault-injecting runner around the real tiny pipelines, keeping every request it ran."""

    def __init__(self, inner, **options) -> None:
        super().__init__(inner, **options)
        self.requests: list[GenerationRequest] = []  # what the engine really ran, in order

    def run(self, requests, on_step):
        self.requests.extend(requests)
        return super().run(requests, on_step)


@pytest.fixture(scope="session")
def tiny_styles(tiny_family, tmp_path_factory) -> StyleLibrary:
    """The shared test styles (ink, neon) and a third, chalk: a job may mix up to three."""
    from diffusers import StableDiffusionPipeline

    from generation.models.testing.tiny_models import save_random_lora

    directory = tmp_path_factory.mktemp("styles-bot")
    _write_styles(directory, tiny_family)
    base = StableDiffusionPipeline.from_pretrained(tiny_family.base)
    save_random_lora(directory / "chalk", unet=base.unet, seed=300)
    with (directory / "styles.toml").open("a") as toml:
        toml.write(
            """
[styles.chalk]
source = "chalk"
weight_name = "pytorch_lora_weights.safetensors"
default_weight = 0.7
architecture = "sd"
description = "third test style"
"""
        )
    return StyleLibrary.load(directory / "styles.toml")


@pytest.fixture(scope="session")
def tiny_pipelines(tiny_family, tiny_styles):
    """The tiny pipelines with the bot tests' three styles loaded."""
    from generation.modes.pipelines import PipelineSet

    return PipelineSet(tiny_family, styles=tiny_styles)


@dataclass
class BotHarness:
    double: DiscordDouble
    bot: LcmBot
    engine: Engine
    database: Database
    runner: RecordingRunner
    settings: Settings

    async def idle(self) -> None:
        """Wait until every job the bot accepted has been delivered."""
        await self.bot.jobs.wait_idle()


def bot_settings(double: DiscordDouble, database_url: str, **overrides) -> Settings:
    values = dict(
        discord_token=double.token,
        discord_guild_ids=str(double.guild.id),
        lcm_model="tiny",
        database_url=database_url,
        lcm_cooldown_s=0,
        lcm_queue_per_user=20,
        lcm_http_port=0,  # no /healthz server unless a test asks for one (bot_overrides)
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


def make_bot(settings, engine, database, tiny_pipelines) -> LcmBot:
    return LcmBot(
        settings=settings,
        engine=engine,
        database=database,
        family=tiny_pipelines.family,
        styles=tiny_pipelines.styles,
        status_interval_s=0.05,
        guild_ready_timeout=0.05,
    )


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    migrate.upgrade(url, "head")
    return url


@pytest.fixture
def limits() -> Limits:
    """Override in a test module to scale deadlines or shrink the upload limit."""
    return Limits()


@pytest.fixture
def bot_overrides() -> dict:
    """Override in a test module to change the bot's settings (e.g. turn on the HTTP endpoint)."""
    return {}


@pytest.fixture
async def harness(database_url, tiny_pipelines, limits, bot_overrides) -> AsyncIterator[BotHarness]:
    runner = RecordingRunner(tiny_pipelines)
    database = Database.open(database_url)
    try:
        async with DiscordDouble(limits=limits) as double:
            settings = bot_settings(double, database_url, **bot_overrides)
            # The engine's caps from the settings, as bot/run.py sets them in production.
            config = EngineConfig(
                batch_budget=8 * TINY_PIXELS,
                per_user_cap=engine_queue_ceiling(settings),
                global_cap=500,
            )
            engine = Engine(
                lambda: runner,
                family=tiny_pipelines.family,
                styles=tiny_pipelines.styles,
                config=config,
            )
            async with engine:
                bot = make_bot(settings, engine, database, tiny_pipelines)
                async with double.running(bot):
                    harness = BotHarness(double, bot, engine, database, runner, settings)
                    yield harness
                    runner.gate.set()
                    await asyncio.wait_for(harness.idle(), 60)
    finally:
        runner.gate.set()
        runner.release.set()
        await database.close()


def png_bytes(size=(96, 64), *, transparent_hole: bool = False) -> bytes:
    image = Image.new("RGBA" if transparent_hole else "RGB", size, (90, 120, 200))
    ImageDraw.Draw(image).rectangle((20, 10, 70, 50), fill=(250, 200, 30))
    if transparent_hole:
        image.paste((0, 0, 0, 0), (30, 20, 60, 40))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def mask_bytes(size=(96, 64)) -> bytes:
    mask = Image.new("L", size, 0)
    mask.paste(255, (30, 20, 60, 40))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()
