"""Nudge in place and the canny loop: private nudge panels, edge buttons, and Keep."""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.admission import Draft, interaction_context
from bot.in_place import InPlaceRenders
from bot.job_parameters import upgrade_parameters
from bot.nudge_moves import EDGE_MOVES
from bot.nudge_views import KEEP, TweakButton, nudge_panel
from bot.refusal import Refusal
from bot.views import result_view
from generation.modes import Mode

if TYPE_CHECKING:
    from bot.app import LcmBot

log = logging.getLogger(__name__)


class NudgeCog(commands.Cog):
    """Opens nudge panels from results, and turns their clicks into renders in place."""

    def __init__(self, bot: LcmBot) -> None:
        self.bot = bot
        self.renders = InPlaceRenders(
            admissions=bot.admissions,
            database=bot.database,
            engine=bot.engine,
            family=bot.family,
        )

    async def wait_idle(self) -> None:
        """Until every in-place render in flight has edited its message (a graceful stop)."""
        await self.renders.wait_idle()

    async def open_panel(
        self,
        interaction: discord.Interaction,
        job,
        image: int | None,
        picture_of: Callable[[], Awaitable[discord.Attachment]],
    ) -> None:
        """A private copy of the picture with nudge buttons; each click edits that copy."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        picture = await picture_of()
        data = await self.bot.uploads.read(picture, parameter="image")
        which = f", picture {image}" if image is not None else ""
        content = (
            f"🎚️ Nudging job {job.id}{which}: each button renders it again here, for you "
            "alone. Keep posts the picture you see for everyone."
        )
        await interaction.followup.send(
            content,
            file=discord.File(io.BytesIO(data), filename=picture.filename),
            view=nudge_panel(job.id, upgrade_parameters(job.parameters), image),
            ephemeral=True,
            wait=True,
        )

    async def tweak(
        self, interaction: discord.Interaction, move: str, job_id: int, image: int | None
    ) -> None:
        """One panel or edge button: Keep, a nudge, or a canny-loop move."""
        if move == KEEP:
            await self._keep(interaction, job_id, image)
            return
        if move in EDGE_MOVES:
            job = await self.bot.database.jobs.get(job_id)
            if job is not None and job.user_id != interaction.user.id:
                await interaction.response.send_message(
                    "Only the person who made this picture can change its edges here; "
                    "Re-roll or Nudge make one of your own.",
                    ephemeral=True,
                )
                return
            await self.renders.click(interaction, move, job_id, image, view_for=_canny_result)
            return
        await self.renders.click(interaction, move, job_id, image, view_for=nudge_panel)

    async def _keep(self, interaction: discord.Interaction, job_id: int, image: int | None):
        """The picture the panel shows, posted as a normal result: its job run again (same
        seed and inputs) through the one admission path, journaled with the shown job as parent."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        database = self.bot.database

        async def draft_for(guild) -> Draft:
            job = await database.jobs.get(job_id)
            if job is None:
                raise Refusal(f"Job {job_id} is no longer in the history, so it cannot be kept.")
            parameters = upgrade_parameters(job.parameters)
            seed = parameters.get("seed")
            if image is not None:  # picture n of several: its seed alone
                seed, parameters["count"] = int(job.seeds[image - 1]), 1
            context = interaction_context(interaction, guild, "button:keep", parent_id=job_id)
            inputs = await database.jobs.inputs(job_id)
            mode = Mode(parameters["mode"])
            return Draft(mode, str(parameters["prompt"]), parameters, context, inputs, seed)

        await self.bot.admissions.admit(interaction, "Keep", draft_for)


def _canny_result(job_id: int, parameters: dict[str, Any]) -> discord.ui.View:
    """The canny loop edits a normal result: all its buttons, for the new job, and the edge row."""
    return result_view(job_id, pictures=int(parameters.get("count") or 1), edges=True)


async def setup(bot: LcmBot) -> None:
    await bot.add_cog(NudgeCog(bot))
    bot.add_dynamic_items(TweakButton)
