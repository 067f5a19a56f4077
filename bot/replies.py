"""Private replies to a deferred interaction: only the user sees them."""

from __future__ import annotations

import discord

from bot.delivery_targets import NO_PINGS


async def reply_privately(interaction: discord.Interaction, text: str) -> None:
    """Answer in the deferred response, which commands open as ephemeral (private)."""
    await interaction.edit_original_response(content=f"⚠️ {text}", allowed_mentions=NO_PINGS)


async def answer_privately(interaction: discord.Interaction, text: str) -> None:
    """Answer privately whether or not the interaction was acknowledged yet (buttons, modals)."""
    if interaction.response.type is discord.InteractionResponseType.deferred_message_update:
        # A click answered by editing its own message later (a nudge, the canny loop): the
        # original response is that message, which an error must not overwrite.
        await interaction.followup.send(f"⚠️ {text}", ephemeral=True, allowed_mentions=NO_PINGS)
    elif interaction.response.is_done():
        await reply_privately(interaction, text)
    else:
        await interaction.response.send_message(
            f"⚠️ {text}", ephemeral=True, allowed_mentions=NO_PINGS
        )
