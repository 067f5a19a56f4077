"""The Showcase button: a result's owner posts its pictures to the showcase channel, once."""

from __future__ import annotations

import io

import discord

from bot.delivery_targets import NO_PINGS
from bot.mod_log_entries import message_link
from bot.refusal import Refusal

PROMPT_SHOWN = 300


def _pictures(message: discord.Message | None) -> list[discord.Attachment]:
    """The result's pictures or animation; not the edge map, and nothing behind a spoiler (the
    safety check flagged it, and the showcase may be seen by anyone)."""
    return [
        a
        for a in (message.attachments if message else [])
        if a.filename.startswith("lcm-") and a.filename.endswith((".png", ".webp", ".jpg", ".gif"))
    ]


async def showcase(interaction: discord.Interaction, job) -> None:
    """Post job ``job``'s result to the showcase channel, or say where it already is."""
    bot = interaction.client
    moderation = bot.database.moderation
    if interaction.user.id != job.user_id:
        raise Refusal("Only the person who made this can put it in the showcase.")
    guild_id = interaction.guild_id
    if guild_id is None:
        raise Refusal("The showcase is a server's channel; there is none in direct messages.")
    settings = await moderation.settings(guild_id)
    if settings.showcase_channel_id is None:
        raise Refusal(
            "This server has no showcase channel; a moderator can set one with "
            "/server showcase-channel."
        )
    pictures = _pictures(interaction.message)
    if not pictures:
        raise Refusal("This result has no picture that can be shown (spoilered ones stay here).")
    await interaction.response.defer(ephemeral=True, thinking=True)
    claim = await moderation.claim_showcase(job.id, guild_id, settings.showcase_channel_id)
    if claim is None:  # an earlier press has it (posted, or being posted right now)
        post = await moderation.showcase_post(job.id)
        where = (
            message_link(guild_id, post.channel_id, post.message_id)
            if post is not None and post.message_id
            else "it is being posted"
        )
        await interaction.followup.send(f"It's already in the showcase: {where}", ephemeral=True)
        return
    try:
        files = [discord.File(io.BytesIO(await a.read()), a.filename) for a in pictures]
        back = message_link(guild_id, interaction.channel_id, interaction.message.id)
        prompt = discord.utils.escape_markdown(str(job.parameters.get("prompt", ""))[:PROMPT_SHOWN])
        channel = bot.get_partial_messageable(settings.showcase_channel_id, guild_id=guild_id)
        posted = await channel.send(
            f"🌟 by <@{job.user_id}> · {prompt}\n{back}",
            files=files,
            nonce=f"lcm-show-{job.id}",  # a retried send after a lost answer posts once
            allowed_mentions=NO_PINGS,
        )
    except BaseException:
        await moderation.release_showcase(job.id)  # nothing posted: a later press may try again
        raise
    await moderation.showcase_posted(job.id, posted.id)
    link = message_link(guild_id, settings.showcase_channel_id, posted.id)
    await interaction.followup.send(f"🌟 Posted to the showcase: {link}", ephemeral=True)
