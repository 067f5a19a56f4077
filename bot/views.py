"""Result buttons that survive restarts: the job id lives in the custom_id (`lcm:<action>:<id>`)."""

from __future__ import annotations

import re

import discord

from bot.logs import bind_log_context

ACTIONS = {
    "reroll": ("Re-roll", "🎲"),
    "vary": ("Variations", "🔀"),
    "upscale": ("Upscale ×2", "🔍"),
    "init": ("Use as init", "🖼️"),
    "info": ("Info", "ℹ️"),
    "delete": ("Delete", "🗑️"),
}
IMAGE_ONLY = ("vary", "upscale", "init")  # these start from the posted picture


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"lcm:(?P<action>reroll|vary|upscale|init|info|delete):(?P<job_id>[0-9]{1,19})",
):
    """One result button; discord.py rebuilds it from the custom_id after a restart."""

    def __init__(self, action: str, job_id: int) -> None:
        label, emoji = ACTIONS[action]
        style = discord.ButtonStyle.danger if action == "delete" else discord.ButtonStyle.secondary
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=style, custom_id=f"lcm:{action}:{job_id}"
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> JobButton:
        return cls(match["action"], int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        # This runs in a task of its own: its log lines carry who clicked what.
        bind_log_context(
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            command=f"button:{self.action}",  # the same as the job it starts
        )
        bot = interaction.client
        await bot.result_actions.handle(self.action, self.job_id, interaction)
        bot.metrics.commands.labels(f"button:{self.action}").inc()


def result_view(job_id: int, *, animation: bool = False) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ACTIONS:
        if animation and action in IMAGE_ONLY:
            continue
        view.add_item(JobButton(action, job_id))
    return view
