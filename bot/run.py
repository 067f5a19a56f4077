"""`lcm-bot run`: build the engine and the database, hand them to the bot, and connect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

from bot.settings import Settings

log = logging.getLogger(__name__)

MISSING_TOKEN = (
    "DISCORD_TOKEN is not set. Create an application at "
    "https://discord.com/developers/applications, add a bot, copy its token into .env as "
    "DISCORD_TOKEN=... (see .env.example), then run again."
)


def run(settings: Settings | None = None) -> int:
    """Start the bot and serve until stopped; returns the process exit status."""
    settings = settings or Settings()
    if not settings.discord_token.get_secret_value():
        print(f"error: {MISSING_TOKEN}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))
    return 0


async def serve(settings: Settings, **bot_options) -> None:
    """Own every resource the bot uses (the caller-owns pattern of discord.py's examples)."""
    from bot.app import LcmBot
    from generation.devices import resolve_device, resolve_dtype
    from generation.engine import Engine, EngineConfig
    from generation.families import resolve_family
    from generation.library_logs import quiet_model_libraries
    from generation.pipelines import PipelineSet
    from generation.styles import StyleLibrary
    from storage import migrate
    from storage.database import Database

    quiet_model_libraries()
    family = resolve_family(settings.lcm_model)
    styles = (
        StyleLibrary.load(settings.lcm_styles_file) if settings.lcm_styles_file else StyleLibrary()
    )
    device = resolve_device(settings.lcm_device)
    dtype = resolve_dtype(settings.lcm_dtype, device)
    await asyncio.to_thread(migrate.upgrade, settings.database_url, "head")
    config = EngineConfig(
        batch_budget=settings.lcm_batch_images * family.default_size**2,
        per_user_cap=settings.lcm_queue_per_user,
        global_cap=settings.lcm_queue_total,
        job_timeout_s=settings.lcm_job_timeout_s,
    )

    def load_pipelines() -> PipelineSet:
        pipelines = PipelineSet(
            family,
            device=device,
            dtype=dtype,
            styles=styles,
            compile_mode=settings.lcm_compile or None,
        )
        if settings.lcm_compile and settings.lcm_warmup:
            # Compiling happens here, before the bot connects, not on the first user's job.
            log.info("warmed up compiled batch sizes in %.0f s", pipelines.warm_up())
        return pipelines

    log.info("loading %s on %s (%s)…", family.name, device, dtype)
    engine = Engine(load_pipelines, family=family, styles=styles, config=config)
    database = Database.open(settings.database_url)
    async with engine, database:
        bot = LcmBot(
            settings=settings,
            engine=engine,
            database=database,
            family=family,
            styles=styles,
            **bot_options,
        )
        async with bot:
            await bot.start(settings.discord_token.get_secret_value())
