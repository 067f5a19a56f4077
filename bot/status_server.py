"""`/healthz` and `/metrics` over HTTP (aiohttp), for the operator, Docker and Prometheus."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

if TYPE_CHECKING:
    from bot.app import LcmBot


class HttpPortUnavailable(RuntimeError):
    """The status endpoint could not listen where the settings say."""


def engine_state(engine: Any) -> str:
    """new, starting, running, stopped or dead."""
    return str(engine.state)


class BotMetrics:
    """The bot's own Prometheus figures, in a registry of its own (one per bot instance)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # The collectors the default registry would carry (process_* CPU, memory, file descriptors,
        # start time; python_info; python_gc_*): a registry of our own starts without them.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.commands = Counter(
            "lcm_bot_commands",
            "Slash commands and buttons that completed, by command",
            ["command"],
            registry=self.registry,
        )
        self.command_errors = Counter(
            "lcm_bot_command_errors",
            "Slash commands that failed with an unexpected error, by command",
            ["command"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "lcm_bot_refusals",
            "Requests answered with a clear refusal (bad input, queue full, cooldown, …)",
            registry=self.registry,
        )
        self.connected = Gauge(
            "lcm_bot_discord_connected",
            "1 while the Discord gateway is connected",
            registry=self.registry,
        )
        self.latency = Gauge(
            "lcm_bot_gateway_latency_seconds",
            "Heartbeat round trip to Discord's gateway",
            registry=self.registry,
        )
        self.guilds = Gauge("lcm_bot_guilds", "Servers the bot is in", registry=self.registry)
        self.engine_up = Gauge(
            "lcm_bot_engine_running", "1 while the GPU engine takes jobs", registry=self.registry
        )
        self.deliveries = Gauge(
            "lcm_bot_deliveries_in_flight",
            "Accepted jobs whose result is not delivered yet",
            registry=self.registry,
        )
        self.recovered = Gauge(
            "lcm_bot_recovered_jobs",
            "Jobs re-submitted from the journal at the last start",
            registry=self.registry,
        )
        # A start time, not an uptime: time() - start gives the uptime, changes() counts restarts,
        # and the value is right even when scrapes stop.
        self.start_time = Gauge(
            "lcm_bot_start_time_seconds",
            "When the bot started, in seconds since the Unix epoch",
            registry=self.registry,
        )
        self.start_time.set_to_current_time()

    def text(self, bot: LcmBot) -> bytes:
        health = health_report(bot)
        self.connected.set(int(health["discord"]["connected"]))
        latency = bot.latency
        self.latency.set(latency if math.isfinite(latency) else float("nan"))
        self.guilds.set(len(bot.guilds))
        self.engine_up.set(int(health["engine"]["state"] == "running"))
        self.deliveries.set(bot.jobs.in_flight())
        self.recovered.set(bot.recovered)
        return generate_latest(self.registry)


def health_report(bot: LcmBot) -> dict[str, Any]:
    """What /healthz returns: is Discord connected, does the engine run, how deep is the queue."""
    state = engine_state(bot.engine)
    snapshot = bot.engine.snapshot()
    connected = bot.gateway_connected and not bot.is_closed()
    latency = bot.latency
    problems = []
    if not connected:
        problems.append("the Discord gateway is not connected")
    if state != "running":
        problems.append(f"the GPU engine is {state}, not running")
    return {
        "ok": not problems,
        "problems": problems,
        "discord": {
            "connected": connected,
            "latency_ms": round(latency * 1000, 1) if math.isfinite(latency) else None,
            "guilds": len(bot.guilds),
            "user": str(bot.user) if bot.user else None,
        },
        "engine": {
            "state": state,
            "model": bot.family.name,
            "queue_depth": snapshot.queue_depth,
            "running_jobs": snapshot.running_jobs,
            "jobs": snapshot.jobs,
            "images_per_s": round(snapshot.images_per_s, 3),
            "gpu_memory_bytes": snapshot.gpu_memory_bytes,
        },
        "deliveries_in_flight": bot.jobs.in_flight(),
    }


class StatusServer:
    """The aiohttp server behind /healthz and /metrics; `start` binds, `stop` lets go.

    Started by the bot in `setup_hook` on LCM_HTTP_HOST:LCM_HTTP_PORT (127.0.0.1:8765 by default;
    port 0 turns it off). `/healthz` answers 200 while the Discord gateway is connected and the GPU
    engine runs, else 503, with JSON that says which. `/metrics` is Prometheus text: the engine's
    figures, then the bot's with the standard process_* and python_* collectors. It exports
    counters, never rates: PromQL derives those (deploy/grafana, deploy/prometheus).
    """

    def __init__(self, bot: LcmBot, host: str, port: int) -> None:
        self.bot = bot
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/", self._index)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise HttpPortUnavailable(
                f"cannot listen on {self.url} for /healthz and /metrics: "
                f"{exc.strerror or exc} (set LCM_HTTP_PORT to a free port, or 0 to turn the "
                "endpoint off; is another lcm-bot running?)"
            ) from None
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        report = health_report(self.bot)
        return web.json_response(report, status=200 if report["ok"] else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        body = self.bot.engine.prometheus_text() + self.bot.metrics.text(self.bot)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text="lcm-bot: see /healthz and /metrics\n")
