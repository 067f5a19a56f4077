"""From one slash command to a validated job: presets, server rules, uploads, then the request."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot.attachments import read_attachment
from bot.job_parameters import (
    QUALIFIERS,
    build_request,
    builtin_defaults,
    effective_mode,
    upgrade_layers,
)
from bot.jobs import JobContext
from bot.style_options import check_style_names, effective_styles, fold_style_options
from generation.families import Mode
from generation.requests import GenerationRequest, validate_request
from storage.models import Guild
from storage.precedence import OPTION, resolve

if TYPE_CHECKING:
    from bot.app import LcmBot


class Refusal(Exception):
    """A request the bot turns down with a message for the user (sent privately)."""


@dataclass(frozen=True)
class CommandInput:
    """What one generation command was given, as plain values."""

    mode: Mode
    prompt: str
    options: Mapping[str, Any]  # typed options; None where the user left one out
    preset: str | None = None
    image: discord.Attachment | None = None
    mask: discord.Attachment | None = None


@dataclass(frozen=True)
class PreparedJob:
    request: GenerationRequest
    context: JobContext
    inputs: dict[str, bytes]
    claim: CooldownClaim  # release it if the job is not accepted after all


class CooldownClaim:
    """One user's claim on their next job slot; ``release()`` hands it back if no job came of it."""

    def __init__(self, cooldowns: Cooldowns, user_id: int, before: float | None) -> None:
        self._cooldowns = cooldowns
        self.user_id = user_id
        self.before = before  # the user's previous start, restored on release
        self._released = False

    def release(self) -> None:
        """Undo the claim (idempotent); a later claim by the same user is left alone."""
        if self._released:
            return
        self._released = True
        self._cooldowns._release(self)


class Cooldowns:
    """When each user may start the next job (in memory: a restart forgives everyone).

    ``claim`` checks and takes the slot in one synchronous step: with no await in between, two
    commands of one user racing through the event loop cannot both see the slot free.
    """

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._last: dict[int, float] = {}
        self._holder: dict[int, CooldownClaim] = {}  # the claim that set each user's _last

    def remaining(self, user_id: int, cooldown_s: float) -> float:
        last = self._last.get(user_id)
        return 0.0 if last is None else max(0.0, last + cooldown_s - self._clock())

    def claim(self, user_id: int, cooldown_s: float) -> CooldownClaim:
        """Take the user's slot now, or raise Refusal with the time left."""
        remaining = self.remaining(user_id, cooldown_s)
        if remaining > 0:
            raise Refusal(f"Slow down a little: you can start another job in {remaining:.0f} s.")
        claim = CooldownClaim(self, user_id, self._last.get(user_id))
        self._last[user_id] = self._clock()
        self._holder[user_id] = claim
        return claim

    def _release(self, claim: CooldownClaim) -> None:
        if self._holder.get(claim.user_id) is not claim:
            return  # a newer claim has taken the slot since: it stands
        del self._holder[claim.user_id]
        if claim.before is None:
            del self._last[claim.user_id]
        else:
            self._last[claim.user_id] = claim.before


def check_permissions(interaction: discord.Interaction) -> None:
    """Refuse before any work when the bot could not post the result here."""
    permissions = interaction.app_permissions
    if not permissions.attach_files:
        raise Refusal("I can't attach files in this channel: ask an admin for Attach Files.")
    channel = interaction.channel
    if isinstance(channel, discord.Thread) and not permissions.send_messages_in_threads:
        raise Refusal("I can't post in this thread: ask an admin for Send Messages in Threads.")


def channel_is_nsfw(channel: object) -> bool:
    if isinstance(channel, discord.Thread):
        channel = channel.parent
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw and is_nsfw())


async def prepare_job(
    bot: LcmBot, interaction: discord.Interaction, given: CommandInput
) -> PreparedJob:
    """Everything before the engine; raises Refusal, InvalidInput or PresetNotFound for the user.

    The user's cooldown slot is claimed here; it is released again if preparing fails, and the
    caller releases ``PreparedJob.claim`` if the engine or journal then refuses the job.
    """
    check_permissions(interaction)
    guild = await guild_settings(bot, interaction.guild_id)
    claim = check_user_may_start(bot, interaction.user.id, guild)
    try:
        return await _prepare_claimed(bot, interaction, given, guild, claim)
    except BaseException:
        claim.release()
        raise


async def _prepare_claimed(
    bot: LcmBot,
    interaction: discord.Interaction,
    given: CommandInput,
    guild: Guild,
    claim: CooldownClaim,
) -> PreparedJob:
    user_id = interaction.user.id
    guild_id = interaction.guild_id
    options = fold_style_options(given.options)
    layers = upgrade_layers(
        await bot.database.presets.layers(user_id=user_id, guild_id=guild_id, preset=given.preset)
    )
    # Twice: which adapter /canny runs is itself a resolved value, and picks the recipe.
    resolved = resolve(
        options, layers, built_in=builtin_defaults(bot.family, given.mode), qualifiers=QUALIFIERS
    )
    mode = effective_mode(given.mode, resolved.values)
    if mode is not given.mode:
        resolved = resolve(
            options, layers, built_in=builtin_defaults(bot.family, mode), qualifiers=QUALIFIERS
        )
    values = dict(resolved.values)
    _apply_server_limits(values, guild, bot)
    styles = effective_styles(values, resolved.sources)
    styles_from = resolved.sources["styles"]
    check_style_names(
        styles.picks,
        bot.styles,
        bot.family,
        guild.allowed_styles,
        stored_in=None if styles_from == OPTION else styles_from,
    )
    values["styles"] = styles.picks

    image = mask = None
    max_bytes = int(bot.settings.lcm_max_upload_mb * 2**20)
    if given.image is not None:
        from generation.image_decode import alpha_mask, decode_image, decode_mask

        data = await read_attachment(
            bot.http_session, given.image, parameter="image", max_bytes=max_bytes
        )
        # Decoding a large upload takes a good part of a second: on a thread, never the loop.
        image = await asyncio.to_thread(decode_image, data, parameter="image")
        if given.mask is not None:
            mask_data = await read_attachment(
                bot.http_session, given.mask, parameter="mask", max_bytes=max_bytes
            )
            mask = await asyncio.to_thread(decode_mask, mask_data, parameter="mask")
        elif given.mode is Mode.INPAINT:
            mask = await asyncio.to_thread(alpha_mask, data, parameter="image")
            if mask is None:
                raise Refusal(
                    "Inpainting needs a mask: attach one (white = repaint), or upload a PNG whose "
                    "transparent area is the part to repaint."
                )

    command = given.mode.value if given.mode is not Mode.T2I_ADAPTER else "canny"
    context = interaction_context(
        interaction,
        guild,
        command,
        sources=dict(resolved.sources),
        style_origins=dict(styles.origins),
    )
    request = build_request(
        given.mode,
        given.prompt,
        values,
        seed=given.options.get("seed"),
        image=image,
        mask=mask,
        safety_check=context.wants_safety_check,
        size_from_image=image is not None and given.options.get("size") is None,
    )
    request, inputs = await validated_with_inputs(bot, request)
    return PreparedJob(request, context, inputs, claim)


async def guild_settings(bot: LcmBot, guild_id: int | None) -> Guild:
    """The server's settings; direct messages get the defaults."""
    return await bot.database.guilds.get(guild_id) if guild_id else Guild.defaults(0)


def interaction_context(
    interaction: discord.Interaction, guild: Guild, command: str, **extra: Any
) -> JobContext:
    """Who, where and under which policy, read from the interaction (never from user input)."""
    return JobContext(
        user_id=interaction.user.id,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
        command=command,
        channel_nsfw=channel_is_nsfw(interaction.channel),
        nsfw_policy=guild.nsfw_policy,
        upload_limit=interaction.filesize_limit,
        **extra,
    )


async def validated_with_inputs(
    bot: LcmBot, request: GenerationRequest
) -> tuple[GenerationRequest, dict[str, bytes]]:
    """The validated request and its inputs PNG-encoded for the journal, worked out on a thread.

    Validation resizes an upload to the working size and the journal needs it as PNG: for a
    large picture each takes a good part of a second, which the event loop must not spend.
    """
    return await asyncio.to_thread(_validate_and_store, request, bot.family, bot.styles)


def _validate_and_store(request: GenerationRequest, family, styles):
    request = validate_request(request, family, styles)
    return request, stored_inputs(request)


def stored_inputs(request: GenerationRequest) -> dict[str, bytes]:
    """The validated image and mask as PNG, so the job can run again after a restart."""
    stored = {}
    for role, picture in (("image", request.image), ("mask", request.mask)):
        if picture is not None:
            buffer = io.BytesIO()
            picture.save(buffer, "PNG")
            stored[role] = buffer.getvalue()
    return stored


def _cooldown(guild: Guild, bot: LcmBot) -> float:
    return float(
        guild.cooldown_seconds
        if guild.cooldown_seconds is not None
        else bot.settings.lcm_cooldown_s
    )


def check_user_may_start(bot: LcmBot, user_id: int, guild: Guild) -> CooldownClaim:
    """The per-user queue cap and the cooldown, each with the server's override if it set one.

    Synchronous on purpose: the cooldown is checked and claimed with no await in between, so
    concurrent commands of one user cannot all slip through. The caller must release the claim
    if no job comes of it (a refused upload, a full queue, a storage error): the cooldown paces
    accepted jobs, not attempts, so a user who fixes a typo is not made to wait.
    """
    cap = guild.max_queued_per_user or bot.settings.lcm_queue_per_user
    waiting = len(bot.engine.waiting_jobs(user_id))
    if waiting >= cap:
        raise Refusal(
            f"You already have {waiting} jobs waiting (this server allows {cap}); "
            "wait for one to finish or /cancel one."
        )
    return bot.cooldowns.claim(user_id, _cooldown(guild, bot))


def _apply_server_limits(values: dict[str, Any], guild: Guild, bot: LcmBot) -> None:
    if guild.max_steps is not None and int(values["steps"]) > guild.max_steps:
        raise Refusal(f"This server allows at most {guild.max_steps} steps.")
    if guild.max_count is not None and int(values["count"]) > guild.max_count:
        raise Refusal(f"This server allows at most {guild.max_count} images per job.")
