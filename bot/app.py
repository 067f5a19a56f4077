"""LcmBot: the discord.py client, given its engine and database by the caller that owns them."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.admission import AdmissionService
from bot.attachments import UploadReader
from bot.blocklist import operator_rules
from bot.cooldowns import UserGate
from bot.delivery_targets import ChannelTarget
from bot.job_builder import CommandDrafts
from bot.jobs import JobService
from bot.logs import bind_log_context
from bot.member_policy import MemberPolicy
from bot.mod_log import ModLog
from bot.prompt_screen import PromptScreen
from bot.result_actions import ResultActions
from bot.settings import Settings
from bot.status_server import BotMetrics, StatusServer
from bot.views import JobButton, result_view
from generation.engine import Engine
from generation.models.families import ModelFamily
from generation.models.styles import StyleLibrary
from storage.database import Database

log = logging.getLogger(__name__)

EXTENSIONS = (
    "bot.cogs.generate",
    "bot.cogs.presets",
    "bot.cogs.server",
    "bot.cogs.jobs",
    "bot.cogs.sweep",
    "bot.cogs.quota",
    "bot.cogs.nudge",
)


class LcmTree(app_commands.CommandTree):
    """One place that turns unexpected command errors into a private message and a log line."""

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # Runs in the task that then runs the command: its log lines carry who and where.
        bind_log_context(
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            command=interaction.command.qualified_name if interaction.command else None,
        )
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        command = interaction.command.qualified_name if interaction.command else "?"
        log.error(
            "command /%s failed (user %s, guild %s)",
            command,
            interaction.user.id,
            interaction.guild_id,
            exc_info=error,
            extra={
                "user_id": interaction.user.id,
                "guild_id": interaction.guild_id,
                "channel_id": interaction.channel_id,
                "command": command,
            },
        )
        if isinstance(interaction.client, LcmBot):
            interaction.client.metrics.command_errors.labels(command).inc()
        text = "Something went wrong on my side; the operator can see the details in the log."
        if isinstance(error, app_commands.CheckFailure):
            text = str(error) or "You can't use this command here."
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            pass


class LcmBot(commands.AutoShardedBot):
    """Slash commands only: no prefix commands, no privileged intents.

    Auto-sharded: it connects with as many shards as Discord's /gateway/bot asks for (one for most
    bots, more from 2,500 servers), every shard in this one process, in front of the one engine.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        engine: Engine,
        database: Database,
        family: ModelFamily,
        styles: StyleLibrary,
        status_interval_s: float = 1.0,
        **options,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            tree_cls=LcmTree,
            help_command=None,
            **options,
        )
        self.settings = settings
        self.engine = engine
        self.database = database
        self.family = family
        self.styles = styles
        self.metrics = BotMetrics()
        self.uploads = UploadReader(settings)
        self.mod_log = ModLog(self, database.moderation, database.mod_log)
        self.jobs = JobService(
            engine,
            database,
            view_for=self._view_for,
            status_interval_s=status_interval_s,
            on_posted=self.mod_log.result_posted,
        )
        # The helpers get the services they use, not the whole bot.
        self.admissions = AdmissionService(
            jobs=self.jobs,
            journal=database.jobs,
            guilds=database.guilds,
            gate=UserGate(waiting_jobs=engine.waiting_jobs, settings=settings),
            family=family,
            styles=styles,
            counters=self.metrics,
            prompt_screen=PromptScreen(
                database.moderation, self.mod_log, operator_rules(settings.lcm_blocklist_file)
            ),
            members=MemberPolicy(
                limits=database.limits, quota_repository=database.quotas, settings=settings
            ),
        )
        self.drafts = CommandDrafts(
            presets=database.presets, family=family, styles=styles, uploads=self.uploads
        )
        self.result_actions = ResultActions(
            journal=database.jobs,
            admissions=self.admissions,
            uploads=self.uploads,
            family=family,
            styles=styles,
        )
        self.recovered = 0
        self.gateway_connected = False  # READY or RESUMED seen, and no disconnect since
        self.status_server: StatusServer | None = None
        if settings.lcm_http_port:
            self.status_server = StatusServer(self, settings.lcm_http_host, settings.lcm_http_port)

    @staticmethod
    def _view_for(
        job_id: int, animation: bool, pictures: int, edges: bool = False
    ) -> discord.ui.View:
        return result_view(job_id, animation=animation, pictures=pictures, edges=edges)

    async def setup_hook(self) -> None:
        if self.status_server is not None:
            await self.status_server.start()
            url = self.status_server.url
            log.info("health and metrics: %s/healthz and %s/metrics", url, url)
        if self.application_id is not None:
            log.info(
                "invite link (scopes bot + applications.commands, with the permissions it "
                "needs): %s",
                invite_url(self.application_id),
            )
        self.uploads.open()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.add_dynamic_items(JobButton)
        from bot.command_sync import plan_sync

        plan = plan_sync(self.settings)
        for guild_id in plan.guild_ids:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        if plan.global_sync:
            await self.tree.sync()
        log.info("%s", plan.describe())
        await self.recover_jobs()
        await self.mod_log.deliver_pending()  # entries journaled just before the last stop
        self.mod_log.start()  # and those that fail from now on, while the bot runs
        self._prune_history.start()

    @tasks.loop(hours=24)
    async def _prune_history(self) -> None:
        """Retention: drop finished history older than LCM_HISTORY_DAYS, once a day."""
        try:
            pruned = await self.database.prune_history(self.settings.lcm_history_days)
        except Exception:
            log.exception("pruning old job history failed")
            return
        if pruned:
            log.info("pruned %d jobs older than %d days", pruned, self.settings.lcm_history_days)

    async def recover_jobs(self) -> None:
        """Re-submit what the journal says was accepted but not finished, and tell its users."""
        report = await self.database.recover_jobs()
        for recovered in report.jobs:
            job = recovered.job
            channel = self.get_channel(job.channel_id) or await self._fetch_channel(job.channel_id)
            if channel is None:
                log.warning("job %s: channel %s is gone; failing it", job.id, job.channel_id)
                await self.database.jobs.fail(job.id, "its channel is gone")
                continue
            target = ChannelTarget(channel, job.user_id, label=f"Job {job.id} ({recovered.reason})")
            if recovered in report.failed:
                await target.notify_or_log(f"❌ Job {job.id}: {recovered.reason}")
                continue
            if await self.admissions.readmit(job, recovered.inputs, channel, target):
                self.recovered += 1

    async def _fetch_channel(self, channel_id: int):
        try:
            return await self.fetch_channel(channel_id)
        except discord.HTTPException:
            return None

    async def on_ready(self) -> None:
        self.gateway_connected = True
        log.info(
            "connected as %s (%s) to %d servers",
            self.user,
            self.user.id if self.user else "?",
            len(self.guilds),
        )

    async def on_resumed(self) -> None:
        self.gateway_connected = True
        log.info("the Discord gateway connection is back (resumed)")

    async def on_disconnect(self) -> None:
        if self.gateway_connected:
            log.warning("lost the Discord gateway connection; discord.py reconnects")
        self.gateway_connected = False

    async def on_app_command_completion(
        self, interaction: discord.Interaction, command: app_commands.Command
    ) -> None:
        self.metrics.commands.labels(command.qualified_name).inc()

    async def close(self) -> None:
        self._prune_history.cancel()
        await self.mod_log.close()
        self.gateway_connected = False
        await super().close()
        await self.uploads.close()
        if self.status_server is not None:
            await self.status_server.stop()


def invite_url(application_id: int) -> str:
    """The link an operator opens to add the bot with the scopes and permissions it needs."""
    permissions = discord.Permissions(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        attach_files=True,
        embed_links=True,
        read_message_history=True,
    )
    return discord.utils.oauth_url(
        application_id, permissions=permissions, scopes=("bot", "applications.commands")
    )
