"""What the result buttons do: re-roll, variations, upscale, use as init, info and delete."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.attachments import read_attachment
from bot.delivery_targets import InteractionTarget
from bot.job_builder import (
    Refusal,
    check_permissions,
    check_user_may_start,
    guild_settings,
    interaction_context,
    stored_inputs,
)
from bot.job_parameters import build_request, upgrade_parameters
from bot.replies import reply_privately
from bot.style_options import as_picks, check_style_names
from generation.errors import GenerationError
from generation.fair_queue import QueueFull
from generation.families import Mode
from generation.requests import validate_request

if TYPE_CHECKING:
    from bot.app import LcmBot

log = logging.getLogger(__name__)
VARIATION_STRENGTH = 0.6
UPSCALE_STRENGTH = 0.35


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
        try:
            strength = float(self.strength.value)
        except ValueError:
            await interaction.response.send_message(
                "Strength must be a number from 0.05 to 1.", ephemeral=True
            )
            return
        await self._actions.start_from_picture(
            interaction, self._job_id, prompt=self.prompt.value, strength=strength, scale=1.0
        )


class ResultActions:
    def __init__(self, bot: LcmBot) -> None:
        self.bot = bot

    async def handle(self, action: str, job_id: int, interaction: discord.Interaction) -> None:
        job = await self.bot.database.jobs.get(job_id)
        if job is None:
            await interaction.response.send_message(
                f"Job {job_id} is no longer in the history.", ephemeral=True
            )
            return
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

    async def start_rerun(self, interaction: discord.Interaction, job_id: int) -> None:
        """The same parameters and inputs with a fresh seed."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await self.bot.database.jobs.get(job_id)
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
        job = await self.bot.database.jobs.get(job_id)
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
        try:
            check_permissions(interaction)
            guild = await guild_settings(bot, interaction.guild_id)
            claim = check_user_may_start(bot, interaction.user.id, guild)
            try:
                await self._submit(interaction, job, parameters, inputs, mode=mode, guild=guild)
            except BaseException:
                claim.release()  # not accepted: the cooldown is not spent
                raise
        except (Refusal, GenerationError, QueueFull) as exc:
            log.info("refused: %s", exc)
            bot.metrics.refusals.inc()
            await reply_privately(interaction, str(exc))

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
        image = decode_image(inputs["image"]) if "image" in inputs else None
        mask = decode_mask(inputs["mask"]) if "mask" in inputs else None
        request = build_request(
            mode,
            str(parameters["prompt"]),
            parameters,
            image=image,
            mask=mask,
            safety_check=context.wants_safety_check,
        )
        request = validate_request(request, bot.family, bot.styles)
        await bot.jobs.start(
            request, context, InteractionTarget(interaction), inputs=stored_inputs(request)
        )

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
