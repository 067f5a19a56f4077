"""/history, /queue and /cancel: a user's own jobs, past, waiting and running."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.delivery_targets import NO_PINGS
from bot.render import truncate
from bot.replies import defer_privately, send_privately
from storage.models import JobStatus

if TYPE_CHECKING:
    from bot.app import LcmBot

PAGE_SIZE = 10
STATUS_ICONS = {
    "queued": "⏳",
    "running": "🎨",
    "finished": "✅",
    "failed": "❌",
    "cancelled": "🛑",
}


def _job_line(job) -> str:
    icon = STATUS_ICONS.get(str(job.status), "•")
    prompt = truncate(str(job.parameters.get("prompt", "")), 60)
    where = ""
    if job.result_message_id and job.guild_id:
        url = f"https://discord.com/channels/{job.guild_id}/{job.result_channel_id}/"
        where = f" · [open]({url}{job.result_message_id})"
    return f"{icon} `{job.id}` {job.command} · {prompt}{where}"


class HistoryView(discord.ui.View):
    """Pages through the user's jobs; a menu re-opens one (its info and a re-roll button)."""

    def __init__(self, bot: LcmBot, user_id: int, page: int, jobs: list) -> None:
        super().__init__(timeout=300)
        self.bot, self.user_id, self.page = bot, user_id, page
        self.previous.disabled = page == 0
        self.next.disabled = len(jobs) <= PAGE_SIZE
        options = [
            discord.SelectOption(
                label=f"Job {job.id}: {truncate(str(job.parameters.get('prompt', '')), 80)}",
                value=str(job.id),
            )
            for job in jobs[:PAGE_SIZE]
        ]
        if options:
            self.reopen.options = options
        else:
            self.remove_item(self.reopen)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.user_id

    @discord.ui.button(label="Newer", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.bot.get_cog("JobsCog").show_history(interaction, self.page - 1, edit=True)

    @discord.ui.button(label="Older", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.bot.get_cog("JobsCog").show_history(interaction, self.page + 1, edit=True)

    @discord.ui.select(placeholder="Re-open a job…")
    async def reopen(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        from bot.views import JobButton

        job_id = int(select.values[0])
        job = await self.bot.database.jobs.get(job_id)
        if job is None or job.user_id != self.user_id:
            await interaction.response.send_message("That job is gone.", ephemeral=True)
            return
        view = discord.ui.View(timeout=None)
        view.add_item(JobButton("reroll", job_id))
        view.add_item(JobButton("info", job_id))
        await interaction.response.send_message(
            _job_line(job), view=view, ephemeral=True, allowed_mentions=NO_PINGS
        )


class JobsCog(commands.Cog):
    def __init__(self, bot: LcmBot) -> None:
        self.bot = bot

    @app_commands.command(name="history", description="Your recent jobs, newest first")
    @app_commands.describe(page="Page number, from 1 (newest)")
    async def history(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        await defer_privately(interaction)
        await self.show_history(interaction, page - 1, edit=False)

    async def show_history(self, interaction: discord.Interaction, page: int, *, edit: bool):
        page = max(0, page)
        # One more than a page tells whether an older page exists.
        limit = min(100, (page + 1) * PAGE_SIZE + 1)
        jobs = await self.bot.database.jobs.recent(user_id=interaction.user.id, limit=limit)
        shown = jobs[page * PAGE_SIZE :]
        if not shown:
            text = "No jobs yet: try /imagine." if page == 0 else "No older jobs."
        else:
            text = f"**Your jobs** (page {page + 1})\n" + "\n".join(
                _job_line(job) for job in shown[:PAGE_SIZE]
            )
        view = HistoryView(self.bot, interaction.user.id, page, shown)
        if edit:
            await interaction.response.edit_message(content=text[:2000], view=view)
        else:
            await send_privately(interaction, text[:2000], view=view)

    @app_commands.command(name="queue", description="How busy the bot is, and where your jobs are")
    async def queue(self, interaction: discord.Interaction) -> None:
        await defer_privately(interaction)
        engine = self.bot.engine
        snapshot = engine.snapshot()
        mine = engine.waiting_jobs(interaction.user.id)
        running = [
            job_id
            for job_id in engine.running_jobs()
            if await self._owned(job_id, interaction.user.id)
        ]
        lines = [f"**Queue:** {snapshot.queue_depth} waiting, {snapshot.running_jobs} rendering"]
        if snapshot.wait_p50_s is not None:
            lines.append(
                f"typical wait {snapshot.wait_p50_s:.1f} s, "
                f"{snapshot.images_per_s:.1f} images/s lately"
            )
        lines += [f"🎨 job `{job_id}` is rendering" for job_id in running]
        lines += [f"⏳ job `{job_id}` at position {place}" for job_id, place in mine]
        if not mine and not running:
            lines.append("You have no jobs waiting.")
        await send_privately(interaction, "\n".join(lines)[:2000])

    @app_commands.command(name="cancel", description="Cancel one of your jobs, or all of them")
    @app_commands.describe(job="The job id (see /queue); leave empty to cancel all of yours")
    async def cancel(self, interaction: discord.Interaction, job: str | None = None) -> None:
        await defer_privately(interaction)
        engine, user_id = self.bot.engine, interaction.user.id
        candidates = [job_id for job_id, _ in engine.waiting_jobs(user_id)]
        candidates += [
            job_id for job_id in engine.running_jobs() if await self._owned(job_id, user_id)
        ]
        if job is not None:
            if job not in candidates:
                await send_privately(interaction, f"You have no waiting or running job {job!r}.")
                return
            candidates = [job]
        cancelled = [job_id for job_id in candidates if engine.cancel(job_id)]
        text = (
            f"Cancelling {', '.join(f'`{j}`' for j in cancelled)}."
            if cancelled
            else "You have nothing to cancel."
        )
        await send_privately(interaction, text)

    @cancel.autocomplete("job")
    async def _cancel_autocomplete(self, interaction: discord.Interaction, current: str):
        engine = self.bot.engine
        ids = [job_id for job_id, _ in engine.waiting_jobs(interaction.user.id)]
        return [
            app_commands.Choice(name=f"job {job_id}", value=job_id)
            for job_id in ids
            if current in job_id
        ][:25]

    async def _owned(self, job_id: str, user_id: int) -> bool:
        job = await self.bot.database.jobs.get(int(job_id))
        return job is not None and job.user_id == user_id and job.status != JobStatus.FINISHED


async def setup(bot: LcmBot) -> None:
    await bot.add_cog(JobsCog(bot))
