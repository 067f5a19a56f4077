"""From one slash command to a draft job: presets, styles and uploads (limits: bot.admission)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import discord

from bot.admission import Draft, interaction_context
from bot.attachments import UploadReader
from bot.channel_rules import channel_rule_id
from bot.job_parameters import (
    QUALIFIERS,
    builtin_defaults,
    effective_mode,
    size_or_aspect,
    upgrade_layers,
)
from bot.refusal import Refusal
from bot.style_options import check_style_names, effective_styles, fold_style_options
from generation.models.families import ModelFamily
from generation.models.styles import StyleLibrary
from generation.modes import Mode
from storage.models import Guild
from storage.precedence import BUILT_IN, OPTION, resolve
from storage.repositories.presets import PresetRepository


@dataclass(frozen=True)
class CommandInput:
    """What one generation command was given, as plain values."""

    mode: Mode
    prompt: str
    options: Mapping[str, Any]  # typed options; None where the user left one out
    preset: str | None = None
    image: discord.Attachment | None = None
    mask: discord.Attachment | None = None


SIZE_AND_ASPECT = (
    "Give either size or aspect, not both: size sets the exact pixels, aspect picks a shape "
    "at the model's usual pixel count."
)


class CommandDrafts:
    """Turns a slash command's options into a Draft: precedence, server rules, the uploads."""

    def __init__(
        self,
        *,
        presets: PresetRepository,
        family: ModelFamily,
        styles: StyleLibrary,
        uploads: UploadReader,
    ) -> None:
        self._presets = presets
        self._family = family
        self._styles = styles
        self._uploads = uploads

    async def draft(
        self, interaction: discord.Interaction, given: CommandInput, guild: Guild
    ) -> Draft:
        """Raises Refusal, InvalidInput or PresetNotFound, each with a message for the user."""
        user_id = interaction.user.id
        guild_id = interaction.guild_id
        typed_size = given.options.get("size") is not None
        typed_aspect = given.options.get("aspect") is not None
        if typed_size and typed_aspect:
            raise Refusal(SIZE_AND_ASPECT)
        options = fold_style_options(given.options)
        layers = upgrade_layers(
            await self._presets.layers(
                user_id=user_id,
                guild_id=guild_id,
                preset=given.preset,
                channel_id=channel_rule_id(interaction.channel),
            )
        )
        # Twice: which adapter /canny runs is itself a resolved value, and picks the recipe.
        resolved = resolve(
            options,
            layers,
            built_in=builtin_defaults(self._family, given.mode),
            qualifiers=QUALIFIERS,
        )
        mode = effective_mode(given.mode, resolved.values)
        if mode is not given.mode:
            resolved = resolve(
                options,
                layers,
                built_in=builtin_defaults(self._family, mode),
                qualifiers=QUALIFIERS,
            )
        values, sources = dict(resolved.values), dict(resolved.sources)
        size_or_aspect(values, sources)
        size_from_image = given.image is not None and not (typed_size or typed_aspect)
        if size_from_image:  # the upload's shape: say so, not that a stored size applied
            sources["size"] = sources["aspect"] = BUILT_IN
        styles = effective_styles(values, sources)
        styles_from = resolved.sources["styles"]
        check_style_names(
            styles.picks,
            self._styles,
            self._family,
            guild.allowed_styles,
            stored_in=None if styles_from == OPTION else styles_from,
        )
        values["styles"] = styles.picks

        inputs = {}
        if given.image is not None:
            inputs["image"] = await self._uploads.read(given.image, parameter="image")
            if given.mask is not None:
                inputs["mask"] = await self._uploads.read(given.mask, parameter="mask")
        # The command's own name, so every log line of the job says the same `command=`.
        command = interaction.command.qualified_name if interaction.command else given.mode.value
        context = interaction_context(
            interaction,
            guild,
            command,
            sources=sources,
            style_origins=dict(styles.origins),
        )
        return Draft(
            given.mode,
            given.prompt,
            values,
            context,
            inputs=inputs,
            seed=given.options.get("seed"),
            # An upload keeps its own shape unless a size or an aspect is typed here; a typed
            # aspect centre-crops it to that shape at the family's native size.
            size_from_image=size_from_image,
        )
