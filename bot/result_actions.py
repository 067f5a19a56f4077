"""What the result buttons do: re-roll, variations, upscale, use as init, info and delete."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Awaitable
from typing import Any

import discord

from bot.admission import AdmissionService, Draft, interaction_context
from bot.attachments import UploadReader
from bot.job_parameters import upgrade_parameters
from bot.refusal import Refusal
from bot.style_options import as_picks, check_style_names
from bot.views import ACTIONS
from generation.families import Mode, ModelFamily
from generation.styles import StyleLibrary
from storage.models import Guild
from storage.repositories.jobs import JobRepository

VARIATION_STRENGTH = 0.6
UPSCALE_STRENGTH = 0.35
MIN_STRENGTH, MAX_STRENGTH = 0.05, 1.0


class JobGone(Refusal):
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
            action="init",
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


class ResultActions:
    """The result buttons and the init modal; new jobs go through the one admission service."""

    def __init__(
        self,
        *,
        journal: JobRepository,
        admissions: AdmissionService,
        uploads: UploadReader,
        family: ModelFamily,
        styles: StyleLibrary,
    ) -> None:
        self._journal = journal
        self._admissions = admissions
        self._uploads = uploads
        self._family = family
        self._styles = styles

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
            await self._admissions.answer_failure(interaction, what, exc)

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
                interaction,
                job_id,
                action=action,
                prompt=None,
                strength=VARIATION_STRENGTH,
                scale=1.0,
            )
        elif action == "upscale":
            await self.start_from_picture(
                interaction,
                job_id,
                action=action,
                prompt=None,
                strength=UPSCALE_STRENGTH,
                scale=2.0,
            )

    async def _job(self, job_id: int):
        job = await self._journal.get(job_id)
        if job is None:
            raise JobGone(job_id)
        return job

    async def start_rerun(self, interaction: discord.Interaction, job_id: int) -> None:
        """The same parameters and inputs with a fresh seed."""
        await interaction.response.defer(ephemeral=True, thinking=True)

        async def draft_for(guild: Guild) -> Draft:
            job = await self._job(job_id)
            inputs = await self._journal.inputs(job_id)
            return self._draft(interaction, "reroll", guild, job, job.parameters, inputs)

        await self._admissions.admit(interaction, ACTIONS["reroll"][0], draft_for)

    async def start_from_picture(
        self,
        interaction: discord.Interaction,
        job_id: int,
        *,
        action: str,
        prompt: str | None,
        strength: float,
        scale: float,
    ) -> None:
        """An img2img job from the first picture on the clicked message (variations, upscale)."""
        await interaction.response.defer(ephemeral=True, thinking=True)

        async def draft_for(guild: Guild) -> Draft:
            job = await self._job(job_id)
            pictures = [
                a
                for a in (interaction.message.attachments if interaction.message else [])
                if a.filename.endswith((".png", ".webp", ".jpg"))
                and not a.filename.startswith(("edges", "SPOILER_edges"))
            ]
            if not pictures:
                raise Refusal("That result has no picture to start from.")
            data = await self._uploads.read(pictures[0], parameter="image")
            parameters = dict(job.parameters)
            if prompt is not None:
                parameters["prompt"] = prompt
            parameters["mode"] = Mode.IMG2IMG.value
            parameters["strength"] = strength
            parameters["steps"] = max(int(parameters["steps"]), 4)
            width, height = (int(v) for v in str(parameters["size"]).split("x"))
            factor = min(scale, self._family.max_side / max(width, height))
            parameters["size"] = f"{_snap(width * factor)}x{_snap(height * factor)}"
            return self._draft(interaction, action, guild, job, parameters, {"image": data})

        await self._admissions.admit(interaction, ACTIONS[action][0], draft_for)

    def _draft(
        self,
        interaction: discord.Interaction,
        action: str,
        guild: Guild,
        job,
        parameters: dict[str, Any],
        inputs: dict[str, bytes],
    ) -> Draft:
        # A job journaled by an older version stored one `style` and its weight.
        parameters = upgrade_parameters(parameters)
        check_style_names(
            as_picks(parameters.get("styles")),
            self._styles,
            self._family,
            guild.allowed_styles,
            stored_in=f"job {job.id}",
        )
        # `button:<action>`: the same command= as the click's own log lines and metrics.
        context = interaction_context(interaction, guild, f"button:{action}", parent_id=job.id)
        mode = Mode(parameters["mode"])
        return Draft(mode, str(parameters["prompt"]), parameters, context, inputs=inputs)

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
