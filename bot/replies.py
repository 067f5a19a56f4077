"""Private replies to a deferred interaction: only the user sees them."""

from __future__ import annotations

import discord

from bot.delivery_targets import NO_PINGS


async def reply_privately(interaction: discord.Interaction, text: str) -> None:
    """Answer in the deferred response, which commands open as ephemeral (private)."""
    await interaction.edit_original_response(content=f"⚠️ {text}", allowed_mentions=NO_PINGS)
