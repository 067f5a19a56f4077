"""The Showcase button: a result's owner posts its pictures to the showcase channel, once."""

from __future__ import annotations

import asyncio
import io
import logging
import re

import discord
from discord.ext import commands

from bot.delivery_targets import NO_PINGS
from bot.mod_log_entries import message_link
from bot.refusal import Refusal

log = logging.getLogger(__name__)
PROMPT_SHOWN = 300
STAR = "⭐"
_JOB_ID = re.compile(r"lcm:[a-z0-9-]+:([0-9]{1,19})")


_PICTURE = re.compile(r"lcm-([0-9]{1,20}|grid)\.(?:png|webp|jpg|gif)")


def _pictures(message: discord.Message | None, job) -> list[discord.Attachment]:
    """The result's pictures or animations the safety check did not flag, by the job's flags
    (an NSFW channel may show flagged ones without a spoiler); not the edge map, and nothing
    behind a spoiler. A grid goes only when none of the job's pictures was flagged."""
    flagged = None if job.flagged_seeds is None else set(job.flagged_seeds)
    shown = []
    for attachment in message.attachments if message else []:
        match = _PICTURE.fullmatch(attachment.filename)  # SPOILER_lcm-… never matches
        if match is None:
            continue
        if match[1] == "grid" and flagged:
            continue
        if match[1] != "grid" and flagged is not None and int(match[1]) in flagged:
            continue
        shown.append(attachment)
    return shown


async def _is_nsfw(bot, channel_id: int, *, unknown: bool) -> bool:
    """Whether a channel (a thread: its parent) is age-restricted; ``unknown`` if unreadable."""
    channel = bot.get_channel(channel_id)
    if channel is None:
        try:
            channel = await bot.fetch_channel(channel_id)
        except discord.HTTPException:
            return unknown
    if isinstance(channel, discord.Thread):
        channel = channel.parent
        if channel is None:
            return unknown
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if is_nsfw else unknown


async def nsfw_problem(bot, result_channel_id: int, showcase_channel_id: int) -> str | None:
    """Why a result in this channel cannot go to the showcase channel; None if it can.

    A result in an age-restricted (NSFW) channel may hold pictures no safety check saw; it goes
    only to an NSFW showcase channel.
    """
    if not await _is_nsfw(bot, result_channel_id, unknown=True):
        return None
    if await _is_nsfw(bot, showcase_channel_id, unknown=False):
        return None
    return (
        f"This result is in an age-restricted (NSFW) channel, and the showcase channel "
        f"<#{showcase_channel_id}> is not NSFW: results from NSFW channels go only to an NSFW "
        "showcase channel. A moderator can mark the showcase channel NSFW, or choose an NSFW "
        "one with /server showcase-channel."
    )


async def showcase(interaction: discord.Interaction, job) -> None:
    """Post job ``job``'s result to the showcase channel, or say where it already is."""
    bot = interaction.client
    if interaction.user.id != job.user_id:
        raise Refusal("Only the person who made this can put it in the showcase.")
    guild_id = interaction.guild_id
    if guild_id is None:
        raise Refusal("The showcase is a server's channel; there is none in direct messages.")
    settings = await bot.database.moderation.settings(guild_id)
    if settings.showcase_channel_id is None:
        raise Refusal(
            "This server has no showcase channel; a moderator can set one with "
            "/server showcase-channel."
        )
    problem = await nsfw_problem(bot, interaction.channel_id, settings.showcase_channel_id)
    if problem:
        raise Refusal(problem)
    if not _pictures(interaction.message, job):
        raise Refusal(
            "This result has no picture that can be shown (ones the safety check flagged stay "
            "here)."
        )
    await interaction.response.defer(ephemeral=True, thinking=True)
    link, new = await post_to_showcase(bot, job, interaction.message, guild_id, settings)
    if new:
        await interaction.followup.send(f"🌟 Posted to the showcase: {link}", ephemeral=True)
    elif link is None:
        await interaction.followup.send(
            "It is being posted to the showcase right now; press again in a moment for the link.",
            ephemeral=True,
        )
    else:
        await interaction.followup.send(f"It's already in the showcase: {link}", ephemeral=True)


async def post_to_showcase(
    bot, job, message: discord.Message, guild_id: int, settings
) -> tuple[str | None, bool]:
    """Post ``message``'s pictures (job ``job``'s result) to the showcase channel once.

    Returns the link to the showcase post and whether this call made it (False: an earlier
    press or reaction did; the link is None while one is doing it right now).
    """
    moderation = bot.database.moderation
    claim = await moderation.claim_showcase(job.id, guild_id, settings.showcase_channel_id)
    if claim is None:
        post = await moderation.showcase_post(job.id)
        if post is not None and post.message_id:
            return message_link(guild_id, post.channel_id, post.message_id), False
        return None, False  # another press is posting it right now
    try:
        pictures = _pictures(message, job)
        files = [discord.File(io.BytesIO(await a.read()), a.filename) for a in pictures]
        back = message_link(guild_id, message.channel.id, message.id)
        prompt = discord.utils.escape_markdown(str(job.parameters.get("prompt", ""))[:PROMPT_SHOWN])
        channel = bot.get_partial_messageable(settings.showcase_channel_id, guild_id=guild_id)
        posted = await channel.send(
            f"🌟 by <@{job.user_id}> · {prompt}\n{back}",
            files=files,
            nonce=f"lcm-show-{job.id}",  # a retried send after a lost answer posts once
            allowed_mentions=NO_PINGS,
        )
    except BaseException:
        await moderation.release_showcase(job.id)  # nothing posted: a later try may post
        raise
    await _record_post(moderation, job.id, posted.id)
    return message_link(guild_id, settings.showcase_channel_id, posted.id), True


async def _record_post(moderation, job_id: int, message_id: int, tries: int = 3) -> None:
    """Mark the claim posted; the post is out, so a failure here is retried, then logged (the
    claim then frees itself after SHOWCASE_CLAIM_EXPIRES, and a repost uses the same nonce)."""
    for attempt in range(1, tries + 1):
        try:
            await moderation.showcase_posted(job_id, message_id)
            return
        except Exception:
            if attempt == tries:
                log.exception(
                    "showcase post %s of job %s is out but could not be recorded",
                    message_id,
                    job_id,
                )
                return
            await asyncio.sleep(0.2 * 2**attempt)


class ShowcaseReactions(commands.Cog):
    """Listens for ⭐ reactions (the default intents include reactions; no privileged one)."""

    def __init__(self, bot) -> None:
        self.bot = bot
        # Reaction events handled to the end (posted or not): what a test waits for.
        self.handled = 0

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        try:
            await on_reaction(self.bot, payload)
        except Exception:
            log.exception("showcasing message %s by reactions failed", payload.message_id)
        finally:
            self.handled += 1


async def on_reaction(bot, payload: discord.RawReactionActionEvent) -> bool:
    """Showcase a result once it has the server's number of ⭐ reactions; True if posted now."""
    if payload.guild_id is None or str(payload.emoji) != STAR:
        return False
    if bot.user is None or payload.message_author_id != bot.user.id:
        return False  # only the bot's own messages can be results
    settings = await bot.database.moderation.settings(payload.guild_id)
    if settings.showcase_channel_id is None or settings.showcase_reactions is None:
        return False
    channel = bot.get_partial_messageable(payload.channel_id, guild_id=payload.guild_id)
    message = await channel.fetch_message(payload.message_id)  # the count is not in the event
    stars = next((r.count for r in message.reactions if str(r.emoji) == STAR), 0)
    job_id = _job_of(message)
    if stars < settings.showcase_reactions or job_id is None:
        return False
    job = await bot.database.jobs.get(job_id)
    if job is None or not _pictures(message, job):
        return False
    problem = await nsfw_problem(bot, payload.channel_id, settings.showcase_channel_id)
    if problem:
        log.info("result %s not showcased by reactions: %s", payload.message_id, problem)
        return False
    _, new = await post_to_showcase(bot, job, message, payload.guild_id, settings)
    return new


def _job_of(message: discord.Message) -> int | None:
    """The job behind a result message, from its buttons' custom_ids (lcm:<action>:<job id>)."""
    for row in message.components:
        for item in getattr(row, "children", []):
            match = _JOB_ID.match(getattr(item, "custom_id", None) or "")
            if match:
                return int(match[1])
    return None
