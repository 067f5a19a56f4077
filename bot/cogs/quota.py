"""/quota: what a member has left today in this server, when it resets, and their limits."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.member_limits import limit_lines
from bot.quotas import reset_text
from bot.replies import defer_privately, send_privately

if TYPE_CHECKING:
    from bot.app import LcmBot


class QuotaCog(commands.Cog):
    def __init__(self, bot: LcmBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="quota", description="Images you have left today here, and your limits"
    )
    @app_commands.guild_only()
    async def quota(self, interaction: discord.Interaction) -> None:
        await defer_privately(interaction)
        admissions = self.bot.admissions
        policy = admissions.members
        guild = await admissions.guild(interaction.guild_id)
        member = await policy.limits_for(guild, interaction.user, interaction.guild_id)
        status = await policy.quotas.status(
            interaction.guild_id, interaction.user.id, member.limits, member.quota
        )
        if status.limit is None:
            head = "No daily quota here: make as many images as your limits allow."
        else:
            head = (
                f"You have **{status.left}** of {status.limit} images left today "
                f"({status.source}); the count resets at {reset_text(status.resets_at)}."
            )
        text = "\n".join([head, "Your limits here:", *limit_lines(member.limits)])
        await send_privately(interaction, text)


async def setup(bot: LcmBot) -> None:
    await bot.add_cog(QuotaCog(bot))
