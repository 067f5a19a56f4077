"""Private replies to a deferred interaction: only the user sees them."""

from __future__ import annotations

import contextlib

import discord

from bot.delivery_targets import NO_PINGS


async def reply_privately(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral follow-up, then the public "thinking…" placeholder is removed."""
    await interaction.followup.send(f"⚠️ {text}", ephemeral=True, allowed_mentions=NO_PINGS)
    with contextlib.suppress(discord.HTTPException):
        await interaction.delete_original_response()
