"""What the result buttons do: re-roll, variations, upscale, use as init, info and delete."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import discord
from sqlalchemy.exc import SQLAlchemyError

from bot.attachments import read_attachment
from bot.delivery_targets import InteractionTarget
from bot.job_builder import (
    Refusal,
    check_permissions,
    check_user_may_start,
    guild_settings,
    interaction_context,
    validated_with_inputs,
)
from bot.job_parameters import build_request, upgrade_parameters
from bot.replies import answer_privately, reply_privately
from bot.style_options import as_picks, check_style_names
from bot.views import ACTIONS
from generation.errors import GenerationError
from generation.fair_queue import QueueFull
from generation.families import Mode
from storage.errors import StorageError

if TYPE_CHECKING:
    from bot.app import LcmBot

log = logging.getLogger(__name__)
VARIATION_STRENGTH = 0.6
UPSCALE_STRENGTH = 0.35
MIN_STRENGTH, MAX_STRENGTH = 0.05, 1.0


class JobGone(LookupError):
    """The job behind a button is no longer in the history (deleted by retention or by hand)."""

    def __init__(self, job_id: int) -> None:
        super().__init__(
            f"Job {job_id} is no longer in the history (it was deleted or expired), "
            "so there is nothing to start from."
        )


class InitPromptModal(discord.ui.Modal, title="Use as init image"):
    """Asks for the prompt (prefilled) and strength of an img2img job from a posted result."""

    prompt = discord.ui.TextInput(
        label="Prompt", custom_id="prompt", style=discord.TextStyle.paragraph, max_length=1500
    )
    strength = discord.ui.TextInput(
        label="Strength (0.05–1)", custom_id="strength", default="0.6", max_length=5
    )

    def __init__(self, actions: ResultActions, job_id: int, prompt: str) -> None:
        super().__init__()
        self._actions = actions
        self._job_id = job_id
        self.prompt.default = prompt[:1500]

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._actions.guarded(interaction, "Use as init", self._start(interaction))

    async def _start(self, interaction: discord.Interaction) -> None:
        await self._actions.start_from_picture(
            interaction,
            self._job_id,
            prompt=self.prompt.value,
            strength=parse_strength(self.strength.value),
            scale=1.0,
        )


def parse_strength(text: str) -> float:
    """The modal's strength, or Refusal naming what was typed ("nan" and "inf" parse as floats)."""
    try:
        strength = float(text)
    except ValueError:
        strength = math.nan
    if not MIN_STRENGTH <= strength <= MAX_STRENGTH:  # false for NaN too
        raise Refusal(
            f"Strength must be a number from {MIN_STRENGTH:g} to {MAX_STRENGTH:g}; "
            f"you typed {text.strip()[:20]!r}."
        )
    return strength


def failure_text(what: str, exc: BaseException) -> str:
    """What a user is told when a button or modal could not do its work."""
    if isinstance(exc, JobGone | Refusal | GenerationError | QueueFull | StorageError):
        return str(exc)  # these are written for the user already
    if isinstance(exc, SQLAlchemyError):
        return (
            f"{what} failed: the job history could not be read or written (a storage error). "
            "Try again in a moment; the operator can see the details in the log."
        )
    if isinstance(exc, discord.HTTPException):
        return (
            f"{what} failed: Discord refused a request ({exc.status}: {exc.text or 'no reason'})."
        )
    return f"{what} failed on my side; the operator can see the details in the log."


class ResultActions:
    def __init__(self, bot: LcmBot) -> None:
        self.bot = bot

    async def handle(self, action: str, job_id: int, interaction: discord.Interaction) -> None:
        """Run one button; whatever goes wrong, the user is answered (never left "thinking")."""
        await self.guarded(
            interaction, ACTIONS[action][0], self._handle(action, job_id, interaction)
        )

    async def guarded(
        self, interaction: discord.Interaction, what: str, work: Awaitable[None]
    ) -> None:
        """Await ``work``; on any error tell the user privately what went wrong, and log it."""
        try:
            await work
        except Exception as exc:
            metrics = self.bot.metrics
            if isinstance(exc, JobGone | Refusal | GenerationError | QueueFull):
                log.info("%s refused: %s", what, exc)
                metrics.refusals.inc()
            else:
                log.exception("%s failed", what)
                metrics.command_errors.labels(f"button:{what}").inc()
            try:
                await answer_privately(interaction, failure_text(what, exc))
            except discord.HTTPException as answer_error:
                # The interaction itself is gone (expired, or a modal owns the response).
                log.warning("could not tell the user that %s failed: %s", what, answer_error)

    async def _handle(self, action: str, job_id: int, interaction: discord.Interaction) -> None:
        job = await self._job(job_id)
        if action == "info":
            await interaction.response.send_message(_info(job), ephemeral=True)
        elif action == "delete":
            await self._delete(interaction, job)
        elif action == "init":
            modal = InitPromptModal(self, job_id, str(job.parameters.get("prompt", "")))
            await interaction.response.send_modal(modal)
        elif action == "reroll":
            await self.start_rerun(interaction, job_id)
        elif action == "vary":
            await self.start_from_picture(
                interaction, job_id, prompt=None, strength=VARIATION_STRENGTH, scale=1.0
            )
        elif action == "upscale":
            await self.start_from_picture(
                interaction, job_id, prompt=None, strength=UPSCALE_STRENGTH, scale=2.0
            )

    async def _job(self, job_id: int):
        job = await self.bot.database.jobs.get(job_id)
        if job is None:
            raise JobGone(job_id)
        return job

    async def start_rerun(self, interaction: discord.Interaction, job_id: int) -> None:
        """The same parameters and inputs with a fresh seed."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await self._job(job_id)
        inputs = await self.bot.database.jobs.inputs(job_id)
        await self._start(
            interaction, job, job.parameters, inputs, mode=Mode(job.parameters["mode"])
        )

    async def start_from_picture(
        self,
        interaction: discord.Interaction,
        job_id: int,
        *,
        prompt: str | None,
        strength: float,
        scale: float,
    ) -> None:
        """An img2img job from the first picture on the clicked message (variations, upscale)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await self._job(job_id)
        pictures = [
            a
            for a in (interaction.message.attachments if interaction.message else [])
            if a.filename.endswith((".png", ".webp", ".jpg"))
            and not a.filename.startswith(("edges", "SPOILER_edges"))
        ]
        if not pictures:
            await reply_privately(interaction, "That result has no picture to start from.")
            return
        data = await read_attachment(
            self.bot.http_session,
            pictures[0],
            parameter="image",
            max_bytes=int(self.bot.settings.lcm_max_upload_mb * 2**20),
        )
        parameters = dict(job.parameters)
        if prompt is not None:
            parameters["prompt"] = prompt
        parameters["strength"] = strength
        parameters["steps"] = max(int(parameters["steps"]), 4)
        width, height = (int(v) for v in str(parameters["size"]).split("x"))
        limit = self.bot.family.max_side
        factor = min(scale, limit / max(width, height))
        parameters["size"] = f"{_snap(width * factor)}x{_snap(height * factor)}"
        await self._start(interaction, job, parameters, {"image": data}, mode=Mode.IMG2IMG)

    async def _start(
        self, interaction, job, parameters: dict[str, Any], inputs: dict[str, bytes], *, mode: Mode
    ) -> None:
        bot = self.bot
        check_permissions(interaction)
        guild = await guild_settings(bot, interaction.guild_id)
        claim = check_user_may_start(bot, interaction.user.id, guild)
        try:
            await self._submit(interaction, job, parameters, inputs, mode=mode, guild=guild)
        except BaseException:
            claim.release()  # not accepted: the cooldown is not spent
            raise

    async def _submit(
        self, interaction, job, parameters: dict[str, Any], inputs: dict[str, bytes], *, mode, guild
    ) -> None:
        from generation.image_decode import decode_image, decode_mask

        bot = self.bot
        # A job journaled by an older version stored one `style` and its weight.
        parameters = upgrade_parameters(parameters)
        check_style_names(
            as_picks(parameters.get("styles")),
            bot.styles,
            bot.family,
            guild.allowed_styles,
            stored_in=f"job {job.id}",
        )
        context = interaction_context(interaction, guild, str(mode), parent_id=job.id)
        # Decoding (and below, validating and encoding) pictures is CPU work: off the loop.
        image = (
            await asyncio.to_thread(decode_image, inputs["image"]) if "image" in inputs else None
        )
        mask = await asyncio.to_thread(decode_mask, inputs["mask"]) if "mask" in inputs else None
        request = build_request(
            mode,
            str(parameters["prompt"]),
            parameters,
            image=image,
            mask=mask,
            safety_check=context.wants_safety_check,
        )
        request, stored = await validated_with_inputs(bot, request)
        await bot.jobs.start(request, context, InteractionTarget(interaction), inputs=stored)

    async def _delete(self, interaction: discord.Interaction, job) -> None:
        permissions = interaction.permissions
        if interaction.user.id != job.user_id and not permissions.manage_messages:
            await interaction.response.send_message(
                "Only the person who made this (or a moderator) can delete it.", ephemeral=True
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        if interaction.message is not None:
            with contextlib.suppress(discord.NotFound):
                await interaction.message.delete()
        await interaction.followup.send("Deleted.", ephemeral=True)


def _info(job) -> str:
    parameters = json.dumps(upgrade_parameters(job.parameters), ensure_ascii=False, indent=1)
    lines = [
        f"**Job {job.id}** · {job.command} · {job.status} · seeds {job.seeds}",
        f"```json\n{parameters[:1500]}\n```",
    ]
    if job.parent_id:
        lines.append(f"from job {job.parent_id}")
    if job.error:
        lines.append(f"error: {job.error[:200]}")
    return "\n".join(lines)[:2000]


def _snap(value: float) -> int:
    return max(8, int(value) // 8 * 8)
