"""`lcm-bot run`: build the engine and the database, hand them to the bot, and connect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import threading
import time

from bot.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings

log = logging.getLogger(__name__)

MISSING_TOKEN = (
    "DISCORD_TOKEN is not set. Create an application at "
    "https://discord.com/developers/applications, add a bot, copy its token into .env as "
    "DISCORD_TOKEN=... (see .env.example), then run again."
)


BAD_TOKEN = (
    "Discord refused DISCORD_TOKEN (401 Unauthorized): it is wrong, or it was reset. Open "
    "https://discord.com/developers/applications → your application → Bot → Reset Token, put "
    "the new token into .env as DISCORD_TOKEN=..., then run again (`lcm-bot doctor` checks its "
    "format)."
)


class EngineDied(RuntimeError):
    """The engine's worker is gone for good (e.g. the GPU itself failed)."""


def run(settings: Settings | None = None, **bot_options) -> int:
    """Start the bot and serve until stopped; returns the process exit status.

    Settings problems and a missing token exit with status 2 before anything slow starts; a
    failure while starting (models, database, Discord login, the HTTP port) exits with status 1
    and one line saying what to do, not a traceback.
    """
    if settings is None:
        try:
            settings = load_settings()
        except SettingsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    token = settings.discord_token.get_secret_value()
    if not token:
        print(f"error: {MISSING_TOKEN}", file=sys.stderr)
        return 2
    prepare_process(settings)
    try:
        asyncio.run(serve(settings, **bot_options))
    except KeyboardInterrupt:
        pass
    except EngineDied as exc:
        report_failure(str(exc))
        return 1
    except Exception as exc:
        reason = startup_failure(exc, settings)
        if reason is None:
            # A bug: its traceback goes through logging, which redacts the token (Python's own
            # print of an uncaught exception would not, and would break JSON logs).
            log.critical("the bot stopped on an unexpected error", exc_info=exc)
            return 1
        log.debug("start failed", exc_info=exc)
        report_failure(f"could not start: {reason}")
        return 1
    return 0


def report_failure(reason: str) -> None:
    """One line on stderr: the log line where logging shows errors, else a plain ``error:``.

    Both at once would say it twice (the log handler writes to stderr too).
    """
    line = " ".join(reason.split())
    if log.isEnabledFor(logging.ERROR):
        log.error("%s", line)
    else:
        print(f"error: {line}", file=sys.stderr)


def prepare_process(settings: Settings) -> None:
    """Logging as the settings say (the token redacted), and `.env` paths for the libraries."""
    token = settings.discord_token.get_secret_value()
    secrets = [token, settings.hf_token.get_secret_value()]
    configure_logging(settings.lcm_log_format, settings.lcm_log_level, secrets=secrets)
    settings.export_environment()  # HF_HOME from .env, before the model libraries load


def startup_failure(exc: BaseException, settings: Settings) -> str | None:
    """One line for a failure an operator can fix; None for a bug (keep its traceback)."""
    import discord
    from alembic.util.exc import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from bot.status_server import HttpPortUnavailable
    from generation.engine.worker_process import WorkerError
    from generation.errors import GenerationError, ModelUnavailable
    from storage.cli import explain
    from storage.errors import StorageError

    if isinstance(exc, discord.LoginFailure):
        return BAD_TOKEN
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return (
            "Discord refused a privileged intent. lcm-bot needs none: check that nothing "
            "changed the bot's intents."
        )
    if isinstance(exc, GenerationError | HttpPortUnavailable):
        return str(exc)
    if isinstance(exc, WorkerError):
        # Only the child's message crossed the pipe; the parent's traceback would show nothing.
        kind, _, message = str(exc).partition(": ")
        if kind == ModelUnavailable.__name__:
            return message
        return f"the GPU worker could not load the models: {exc}"
    if isinstance(exc, StorageError | SQLAlchemyError | CommandError):
        return explain(exc, settings.database_url)
    if isinstance(exc, discord.GatewayNotFound | discord.DiscordServerError):
        return f"Discord is not answering ({exc}); try again in a few minutes"
    if isinstance(exc, discord.Forbidden):
        return (
            f"Discord refused a request at start ({exc.status}: {exc.text or 'no reason'}): "
            "for the command sync, check that the bot is in every server of DISCORD_GUILD_IDS "
            "and was invited with the applications.commands scope (the invite link is in the "
            "log above)"
        )
    if isinstance(exc, discord.HTTPException):
        return f"Discord refused a request at start ({exc.status}: {exc.text or 'no reason'})"
    if isinstance(exc, OSError):
        return f"cannot reach Discord or a model server: {exc}"
    return None


async def serve(settings: Settings, **bot_options) -> None:
    """Own every resource the bot uses (the caller-owns pattern of discord.py's examples)."""
    from generation.models.library_logs import quiet_model_libraries

    # Before the imports below: importing the pipelines is what makes transformers give advice.
    quiet_model_libraries()

    from bot.app import LcmBot
    from bot.member_limits import engine_queue_ceiling
    from generation.engine import Engine, EngineConfig
    from generation.engine.placement import worker_devices
    from generation.engine.transport import worker_factories
    from generation.engine.worker_process import WorkerSpec
    from generation.models.devices import resolve_device, resolve_dtype
    from generation.models.families import resolve_family
    from generation.models.styles import StyleLibrary
    from generation.modes.pipelines import PipelineSet
    from storage import migrate
    from storage.database import Database

    quiet_voice()
    family = resolve_family(settings.lcm_model, settings.model_overrides())
    styles = (
        StyleLibrary.load(settings.lcm_styles_file) if settings.lcm_styles_file else StyleLibrary()
    )
    device = resolve_device(settings.lcm_device)
    dtype = resolve_dtype(settings.lcm_dtype, device)
    # Migrations run at every start (the container relies on this too): no separate step needed.
    await asyncio.to_thread(migrate.upgrade, settings.database_url, "head")
    log.info("database migrated to revision %s", migrate.head_revision())
    config = EngineConfig(
        batch_budget=settings.lcm_batch_images * family.default_size**2,
        # Each member's own cap is the gate's (bot/cooldowns.py): the engine's is a ceiling.
        per_user_cap=engine_queue_ceiling(settings),
        global_cap=settings.lcm_queue_total,
        job_timeout_s=settings.lcm_job_timeout_s,
    )

    worker = WorkerSpec(
        family=settings.lcm_model,
        overrides=settings.model_overrides(),
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        styles_file=str(settings.lcm_styles_file) if settings.lcm_styles_file else None,
        compile_mode=settings.lcm_compile or None,
        warm_up=bool(settings.lcm_compile and settings.lcm_warmup),
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

    log.info(
        "loading %s on %s (%s); a first start downloads its weights into the model cache, with "
        "progress bars",
        family.name,
        device,
        dtype,
    )
    if settings.lcm_worker == "process":
        # The models live in children (one per device, or Ray actors): a hung, crashed or
        # broken worker is killed and replaced. Their log records come back here and go out
        # through this process's handlers (a Ray actor's stay in its node's Ray logs).
        factories = worker_factories(
            worker,
            worker_devices(settings.lcm_devices, str(device)),
            heartbeat_s=settings.lcm_heartbeat_s,
            ray_address=settings.lcm_ray_address.strip(),
            ray_workers=settings.lcm_ray_workers,
        )
    else:
        factories = [load_pipelines]
    log.info("%d GPU worker(s)", len(factories))
    # The first load happens here, not in the engine's worker thread: a model that cannot load
    # then reaches run() once, as one line, instead of also being logged with a traceback there.
    preloaded = [await _in_daemon_thread(factories[0])]

    def runner_factory():
        return preloaded.pop() if preloaded else factories[0]()

    try:
        engine = Engine(
            [runner_factory, *factories[1:]], family=family, styles=styles, config=config
        )
        database = Database.open(settings.database_url)
    except BaseException:
        _close_runner(preloaded.pop())
        raise
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
            stop = _stop_on_signals()
            connection = asyncio.create_task(
                bot.start(settings.discord_token.get_secret_value()), name="discord"
            )
            signalled = asyncio.create_task(stop.wait(), name="stop-signal")
            engine_lost = asyncio.create_task(_engine_dead(engine), name="engine-health")
            done, _ = await asyncio.wait(
                {connection, signalled, engine_lost}, return_when=asyncio.FIRST_COMPLETED
            )
            engine_lost.cancel()
            if connection in done:
                signalled.cancel()
                connection.result()  # a failure to connect or log in: raised for run()
                return
            if engine_lost in done and not signalled.done():
                signalled.cancel()
                connection.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connection
                # /healthz already answers 503; exiting lets the supervisor start a fresh process.
                raise EngineDied(
                    "the GPU worker could not be replaced (see the log above); exiting so that "
                    "the container or service manager restarts the bot"
                )
            await drain(bot, engine, settings.lcm_drain_s)
            connection.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connection


def quiet_voice() -> None:
    """The bot never joins voice: discord.py's advice to install PyNaCl and davey misleads."""
    import discord

    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


async def _in_daemon_thread(load):
    """``load()`` in a daemon thread: Ctrl-C during a long first download exits at once.

    asyncio.to_thread's threads are joined at exit, so the process would wait for the download.
    """
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(outcome, failed: bool) -> None:
        if future.done():  # cancelled: the start was interrupted
            return
        if failed:
            future.set_exception(outcome)
        else:
            future.set_result(outcome)

    def target() -> None:
        try:
            outcome, failed = load(), False
        except BaseException as exc:
            outcome, failed = exc, True
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome, failed)

    threading.Thread(target=target, name="model-load", daemon=True).start()
    return await future


def _close_runner(runner) -> None:
    close = getattr(runner, "close", None)  # a worker process ends; in-process pipelines need not
    if close is not None:
        close()


async def _engine_dead(engine, interval_s: float = 1.0) -> None:
    while engine.state != "dead":
        await asyncio.sleep(interval_s)


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (Ctrl-C, `docker stop`): the signal to drain and exit.

    Without a handler SIGTERM kills the process at once, and as PID 1 in a container it is
    ignored until the SIGKILL that follows: either way accepted jobs would be cut off.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, _signalled, stop, number)
    return stop


def _signalled(stop: asyncio.Event, number: int) -> None:
    if stop.is_set():
        log.warning("%s again while stopping: still draining", signal.Signals(number).name)
        return
    log.info(
        "%s: finishing running work, keeping queued jobs for the next start",
        signal.Signals(number).name,
    )
    stop.set()


async def wait_deliveries(bot) -> None:
    """Until every result in flight has reached Discord and the journal: the jobs' results, and
    those of every cog that delivers its own (a ``wait_idle()`` cog: in-place renders, sweeps).

    Else a render that ran to its end during the drain stays "running" in the journal and is
    posted again, as a new public message, after the restart.
    """
    waits = [bot.jobs.wait_idle()]
    for cog in bot.cogs.values():
        wait_idle = getattr(cog, "wait_idle", None)
        if wait_idle is not None:
            waits.append(wait_idle())
    await asyncio.gather(*waits)


async def drain(bot, engine, drain_s: float) -> None:
    """A graceful stop: no new commands, admissions finish, running batches finish, then exit.

    Every accepted job that has not run stays queued in the journal (untouched) and runs after
    the next start; nobody is told "failed". The whole stop takes at most ``drain_s`` plus the
    few seconds results take to post.
    """
    started = time.monotonic()
    bot.jobs.stopping = True
    if not await bot.jobs.wait_admissions(min(5.0, drain_s)):
        log.warning("some commands were still being admitted when the drain began")
    left = max(0.0, drain_s - (time.monotonic() - started))
    kept = await engine.drain(left)
    # Results of the last batches are posted, and held jobs' users told, before disconnecting.
    try:
        await asyncio.wait_for(
            wait_deliveries(bot), max(2.0, drain_s - (time.monotonic() - started))
        )
    except TimeoutError:
        log.warning("some deliveries were still going when the stop ran out of time")
    log.info(
        "stopped in %.1f s; %d accepted job(s) kept for the next start",
        time.monotonic() - started,
        kept,
    )
