"""Buttons that render again in place: the nudge panel and the canny loop's edge row.

`lcm:tweak:<move>:<job_id>[:<n>]`: the job whose picture the message shows (picture n of it, on
a result with several), so a click after a restart starts again from the journal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import discord

from bot.logs import bind_log_context
from bot.nudge_moves import EDGE_MOVES, NUDGES, nudges_for

KEEP = "keep"
KEEP_LABEL = "Keep: post this for everyone"
# Nudges on one row per value changed: seed and guidance first, strength and style weight next.
_ROWS = {"seed": 0, "guidance": 0, "strength": 1, "styles": 1}


class TweakButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"lcm:tweak:(?P<move>[a-z-]{1,20}):(?P<job_id>[0-9]{1,19})(?::(?P<image>[1-9]))?",
):
    """A nudge, Keep, or an edge button; discord.py rebuilds it from the custom_id."""

    def __init__(self, move: str, job_id: int, image: int | None = None) -> None:
        if move == KEEP:
            label, style = KEEP_LABEL, discord.ButtonStyle.success
        else:
            label, style = (
                (NUDGES.get(move) or EDGE_MOVES[move]).label,
                discord.ButtonStyle.secondary,
            )
        custom_id = f"lcm:tweak:{move}:{job_id}" + (f":{image}" if image is not None else "")
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=custom_id))
        self.move = move
        self.job_id = job_id
        self.image = image

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> TweakButton:
        move = match["move"]
        if move != KEEP and move not in NUDGES and move not in EDGE_MOVES:
            raise ValueError(f"unknown tweak {move!r}")  # discord.py then ignores the click
        image = int(match["image"]) if match["image"] else None
        return cls(move, int(match["job_id"]), image)

    async def callback(self, interaction: discord.Interaction) -> None:
        bind_log_context(
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            command=f"button:{self.move}",
        )
        cog = interaction.client.get_cog("NudgeCog")
        await cog.tweak(interaction, self.move, self.job_id, self.image)
        interaction.client.metrics.commands.labels(f"button:{self.move}").inc()


def nudge_panel(job_id: int, parameters: Mapping[str, Any], image: int | None = None):
    """The private panel's buttons for the job it shows: its nudges, then Keep."""
    view = discord.ui.View(timeout=None)
    for move in nudges_for(parameters):
        button = TweakButton(move.key, job_id, image)
        button.item.row = _ROWS[move.parameter]
        view.add_item(button)
    keep = TweakButton(KEEP, job_id, image)
    keep.item.row = 2
    view.add_item(keep)
    return view


def add_edge_row(view: discord.ui.View, job_id: int, row: int) -> None:
    """The canny loop under a /canny result: fewer edges, more edges, invert."""
    for move in EDGE_MOVES:
        button = TweakButton(move, job_id)
        button.item.row = row
        view.add_item(button)
