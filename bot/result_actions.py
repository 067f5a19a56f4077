"""What the result buttons do: re-roll, vary (subtle/strong), upscale, remix, use as init, info,
delete; on a result with several pictures, each picture action acts on the picture chosen."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.admission import AdmissionService, Draft, interaction_context
from bot.attachments import UploadReader
from bot.grow_actions import grow_parameters
from bot.job_parameters import upgrade_parameters
from bot.mod_log_entries import deleted_text
from bot.refusal import Refusal
from bot.showcase import showcase
from bot.style_options import as_picks, check_style_names
from bot.views import (
    ACTIONS,
    PANEL_ACTIONS,
    PANEL_HELP,
    PANELS,
    PER_PICTURE,
    action_label,
    button_command,
    panel_view,
    picture_chooser,
)
from generation.models.families import ModelFamily
from generation.models.styles import StyleLibrary
from generation.modes import Mode
from storage.models import Guild
from storage.repositories.jobs import JobRepository

SUBTLE_STRENGTH = 0.35  # Vary (subtle)
VARIATION_STRENGTH = 0.7  # Vary (strong), V1…V4, and the "Variations" of older messages
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

    def __init__(
        self, actions: ResultActions, job_id: int, prompt: str, image: int | None = None
    ) -> None:
        super().__init__()
        self._actions = actions
        self._job_id = job_id
        self._image = image
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
            image=self._image,
        )


class RemixModal(discord.ui.Modal, title="Remix"):
    """The prompt and negative prompt, prefilled; runs again with the same seed and settings."""

    prompt = discord.ui.TextInput(
        label="Prompt", custom_id="prompt", style=discord.TextStyle.paragraph, max_length=1500
    )
    negative_prompt = discord.ui.TextInput(
        label="Negative prompt (what to leave out)",
        custom_id="negative_prompt",
        style=discord.TextStyle.paragraph,
        max_length=1500,
        required=False,
    )

    def __init__(self, actions: ResultActions, job, image: int | None) -> None:
        super().__init__()
        self._actions = actions
        self._job_id = job.id
        self._image = image
        self.prompt.default = str(job.parameters.get("prompt") or "")[:1500]
        self.negative_prompt.default = str(job.parameters.get("negative_prompt") or "")[:1500]

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._actions.guarded(interaction, "Remix", self._start(interaction))

    async def _start(self, interaction: discord.Interaction) -> None:
        await self._actions.start_remix(
            interaction,
            self._job_id,
            prompt=self.prompt.value,
            negative_prompt=self.negative_prompt.value,
            image=self._image,
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

    async def handle(
        self,
        action: str,
        job_id: int,
        interaction: discord.Interaction,
        *,
        image: int | None = None,
    ) -> None:
        """Run one button; whatever goes wrong, the user is answered (never left "thinking").

        ``image`` is the picture chosen (1-based) on a result with several; a picture action
        without one, on such a result, first asks which picture.
        """
        await self.guarded(
            interaction, action_label(action), self._handle(action, job_id, interaction, image)
        )

    async def guarded(
        self, interaction: discord.Interaction, what: str, work: Awaitable[None]
    ) -> None:
        """Await ``work``; on any error tell the user privately what went wrong, and log it."""
        try:
            await work
        except Exception as exc:
            await self._admissions.answer_failure(interaction, what, exc)

    async def _handle(
        self, action: str, job_id: int, interaction: discord.Interaction, image: int | None
    ) -> None:
        job = await self._job(job_id)
        if action in PER_PICTURE and image is None:
            count = len(_pictures_of(interaction.message))
            if count > 1:
                await interaction.response.send_message(
                    f"{ACTIONS[action][0]}: which picture? They are numbered left to right, "
                    "top to bottom.",
                    view=picture_chooser(job_id, action, count),
                    ephemeral=True,
                )
                return
        if action == "info":
            await interaction.response.send_message(_info(job), ephemeral=True)
        elif action == "delete":
            await self._delete(interaction, job)
        elif action == "init":
            modal = InitPromptModal(self, job_id, str(job.parameters.get("prompt", "")), image)
            await interaction.response.send_modal(modal)
        elif action == "remix":
            await interaction.response.send_modal(RemixModal(self, job, image))
        elif action == "showcase":
            await showcase(interaction, job)
        elif action == "nudge":
            panels = interaction.client.get_cog("NudgeCog")
            # The picture is read after the panel defers: fetching it may take a while.
            await panels.open_panel(
                interaction, job, image, lambda: self._picture(interaction, job, image)
            )
        elif action == "reroll":
            await self.start_rerun(interaction, job_id)
        elif action in ("vary", "vary-subtle"):
            await self.start_from_picture(
                interaction,
                job_id,
                action=action,
                prompt=None,
                strength=VARIATION_STRENGTH if action == "vary" else SUBTLE_STRENGTH,
                scale=1.0,
                image=image,
            )
        elif action in PANELS:  # Upscale, Zoom out / pan: their choices for this picture
            await interaction.response.send_message(
                PANEL_HELP[action].format(n=image or 1),
                view=panel_view(job_id, action, image or 1),
                ephemeral=True,
            )
        elif action in PANEL_ACTIONS:
            await self.start_grow(interaction, job_id, action, image)

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
        image: int | None = None,
    ) -> None:
        """An img2img job from picture ``image`` of the result (the first one when None)."""

        def img2img(parameters: dict[str, Any]) -> dict[str, Any]:
            parameters = dict(parameters)
            if prompt is not None:
                parameters["prompt"] = prompt
            parameters["mode"] = Mode.IMG2IMG.value
            parameters["strength"] = strength
            parameters["steps"] = max(int(parameters["steps"]), 4)
            width, height = (int(v) for v in str(parameters["size"]).split("x"))
            factor = min(scale, self._family.max_side / max(width, height))
            parameters["size"] = f"{_snap(width * factor)}x{_snap(height * factor)}"
            return parameters

        await self._start_with_picture(interaction, job_id, action, image, img2img)

    async def start_grow(
        self, interaction: discord.Interaction, job_id: int, action: str, image: int | None
    ) -> None:
        """An upscale or outpaint job from picture ``image`` (a panel's button always has one)."""
        await self._start_with_picture(
            interaction,
            job_id,
            action,
            image,
            lambda parameters: grow_parameters(parameters, action),
        )

    async def _start_with_picture(
        self,
        interaction: discord.Interaction,
        job_id: int,
        action: str,
        image: int | None,
        parameters_for: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        """A job from picture ``image`` of the result, with ``parameters_for`` the job's."""
        await interaction.response.defer(ephemeral=True, thinking=True)

        async def draft_for(guild: Guild) -> Draft:
            job = await self._job(job_id)
            picture = await self._picture(interaction, job, image)
            data = await self._uploads.read(picture, parameter="image")
            parameters = parameters_for(job.parameters)
            return self._draft(
                interaction, action, guild, job, parameters, {"image": data}, image=image
            )

        await self._admissions.admit(interaction, action_label(action), draft_for)

    async def start_remix(
        self,
        interaction: discord.Interaction,
        job_id: int,
        *,
        prompt: str,
        negative_prompt: str,
        image: int | None,
    ) -> None:
        """The same seed, settings and inputs with a new prompt; with ``image``, that picture's
        seed alone (count 1)."""
        await interaction.response.defer(ephemeral=True, thinking=True)

        async def draft_for(guild: Guild) -> Draft:
            job = await self._job(job_id)
            parameters = dict(job.parameters)
            parameters["prompt"] = prompt
            parameters["negative_prompt"] = negative_prompt
            seed = int(job.seeds[0]) if job.seeds else int(parameters["seed"])
            if image is not None:
                seed = _seed_of(await self._picture(interaction, job, image), job, image)
                parameters["count"] = 1
            inputs = await self._journal.inputs(job_id)
            draft = self._draft(interaction, "remix", guild, job, parameters, inputs, image=image)
            return dataclasses.replace(draft, seed=seed)

        await self._admissions.admit(interaction, ACTIONS["remix"][0], draft_for)

    async def _picture(
        self, interaction: discord.Interaction, job, image: int | None
    ) -> discord.Attachment:
        """Picture ``image`` (1-based; the first when None) of the job's result message: the
        clicked message when it is that result, else the result message fetched by its id (a
        click on the "which picture?" chooser, or on a modal opened from it)."""
        pictures = _pictures_of(interaction.message)
        if not pictures and image is not None and job.result_message_id:
            channel = interaction.client.get_partial_messageable(job.result_channel_id)
            try:
                pictures = _pictures_of(await channel.fetch_message(job.result_message_id))
            except (discord.NotFound, discord.Forbidden):
                pictures = []
        if not pictures:
            raise Refusal("That result has no picture to start from.")
        index = (image or 1) - 1
        if index >= len(pictures):
            raise Refusal(f"That result has {len(pictures)} picture(s), not {image}.")
        return pictures[index]

    def _draft(
        self,
        interaction: discord.Interaction,
        action: str,
        guild: Guild,
        job,
        parameters: dict[str, Any],
        inputs: dict[str, bytes],
        *,
        image: int | None = None,
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
        # `button:<action>:<n>` when picture n was chosen: the journal keeps which picture.
        command = button_command(action, image)
        context = interaction_context(interaction, guild, command, parent_id=job.id)
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
        # The moderators' log: keyed by the job, so a second press on a stale copy adds nothing.
        await interaction.client.mod_log.record(
            interaction.guild_id,
            f"deleted:{job.id}",
            deleted_text(
                job_id=job.id,
                owner_id=job.user_id,
                deleted_by=interaction.user.id,
                prompt=str(job.parameters.get("prompt", "")),
            ),
        )
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


def _pictures_of(message: discord.Message | None) -> list[discord.Attachment]:
    """The result pictures on a message, in order (not the edge map, not an animation)."""
    return [
        a
        for a in (message.attachments if message else [])
        if a.filename.endswith((".png", ".webp", ".jpg"))
        and not a.filename.startswith(("edges", "SPOILER_edges"))
    ]


_SEED_IN_NAME = re.compile(r"(?:SPOILER_)?lcm-(?P<seed>[0-9]{1,20})\.")


def _seed_of(picture: discord.Attachment, job, image: int) -> int:
    """The seed of a posted picture: in its file name (pictures the safety policy withheld are
    not posted, so picture n need not be seed n), else the job's n-th seed."""
    match = _SEED_IN_NAME.match(picture.filename)
    if match:
        return int(match["seed"])
    return int(job.seeds[min(image, len(job.seeds)) - 1])


def _snap(value: float) -> int:
    return max(8, int(value) // 8 * 8)
