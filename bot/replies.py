"""Private replies: only the user sees them; commands acknowledge before any database work."""

from __future__ import annotations

import discord
from discord.utils import MISSING

from bot.delivery_targets import NO_PINGS


async def defer_privately(interaction: discord.Interaction) -> None:
    """Acknowledge with a private "thinking…" before the first database call.

    Discord drops an interaction not answered within 3 s; a write waiting for SQLite's write lock
    (or a slow read under load) must not be what decides that.
    """
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)


async def send_privately(
    interaction: discord.Interaction,
    text: str,
    *,
    file: discord.File = MISSING,
    view: discord.ui.View = MISSING,
) -> None:
    """The command's private answer, as is: the first response, or the follow-up after a defer.

    A follow-up to a "thinking…" defer replaces that placeholder (same message, still private),
    so a deferred command still ends with exactly one message.
    """
    options = dict(ephemeral=True, allowed_mentions=NO_PINGS, file=file, view=view)
    if interaction.response.is_done():
        # wait=True: the message id comes back, so a view's buttons are tied to their message.
        await interaction.followup.send(text, wait=True, **options)
    else:
        await interaction.response.send_message(text, **options)


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
