"""/preset save|use|list|show|delete|default and /styles: what users keep and pick by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.autocomplete import preset_autocomplete
from bot.cogs.generate import (
    ASPECT_CHOICES,
    HELP,
    PRESET_HELP,
    STYLE_AUTOCOMPLETE,
    STYLE_HELP,
    describe_for_family,
)
from bot.job_builder import CommandInput
from bot.job_parameters import QUALIFIERS, builtin_defaults, upgrade_parameters
from bot.replies import defer_privately, send_privately
from bot.style_options import (
    as_picks,
    check_style_names,
    parse_style_options,
    picks_to_json,
    styles_text,
)
from generation.errors import InvalidInput
from generation.models.styles import MAX_WEIGHT, MIN_WEIGHT
from generation.modes import Mode
from generation.modes.requests import MAX_STYLES
from storage.errors import StorageError
from storage.models import PresetScope
from storage.precedence import NamedParameters, PresetLayers, resolve

if TYPE_CHECKING:
    from bot.app import LcmBot


def preset_parameters(**given) -> dict:
    """The options a preset stores: only those the user gave; raises InvalidInput.

    A size and an aspect are one choice, so a preset holds one of them.
    """
    if given.get("size") is not None and given.get("aspect") is not None:
        raise InvalidInput("aspect", "given together with size", "size or aspect, not both")
    return {key: value for key, value in given.items() if value is not None}


def preset_styles(bot: LcmBot, **options) -> dict:
    """The styles part of a preset, checked as a command checks them; raises InvalidInput."""
    picks = parse_style_options(options)
    if picks:
        check_style_names(picks, bot.styles, bot.family, None)
    elif options.get("style_weight") is not None:
        raise InvalidInput(
            "style_weight", "there is no style to apply it to", "save it with a style"
        )
    return {"styles": picks_to_json(picks), "style_weight": options.get("style_weight")}


def describe_preset(name: str, parameters: dict, bot: LcmBot) -> str:
    parameters = upgrade_parameters(parameters)
    resolved = resolve(
        {},
        PresetLayers(preset=NamedParameters(name, parameters)),
        built_in=builtin_defaults(bot.family),
        qualifiers=QUALIFIERS,
    )
    lines = [f"**{name}**"]
    for key, value in parameters.items():
        if key == "styles" and value:
            value = styles_text(as_picks(value))  # as typed: "ink:0.6, neon"
        lines.append(f"• {key.replace('_', ' ')}: {value}")
    if resolved.ignored:
        lines.append("(ignored, unknown here: " + ", ".join(k for k, _ in resolved.ignored) + ")")
    return "\n".join(lines)[:2000]


class PresetCog(commands.GroupCog, group_name="preset", group_description="Your saved settings"):
    def __init__(self, bot: LcmBot) -> None:
        self.bot = bot
        super().__init__()
        describe_for_family(self, bot.family)

    @app_commands.command(name="save", description="Save settings under a name")
    @app_commands.describe(
        name="A name for this preset (up to 100 characters)",
        **{
            k: PRESET_HELP[k]
            for k in (*STYLE_HELP, "size", "steps", "guidance", "count", "negative", "aspect")
        },
        strength=HELP["strength"],
    )
    @app_commands.choices(aspect=ASPECT_CHOICES)
    @app_commands.autocomplete(**STYLE_AUTOCOMPLETE)
    async def save(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 100],
        style: str | None = None,
        style_2: str | None = None,
        style_3: str | None = None,
        style_weight: app_commands.Range[float, MIN_WEIGHT, MAX_WEIGHT] | None = None,
        size: str | None = None,
        steps: app_commands.Range[int, 1, 8] | None = None,
        guidance: app_commands.Range[float, 0.0, 15.0] | None = None,
        count: app_commands.Range[int, 1, 4] | None = None,
        negative: app_commands.Range[str, 1, 1000] | None = None,
        strength: app_commands.Range[float, 0.05, 1.0] | None = None,
        aspect: app_commands.Choice[str] | None = None,
    ) -> None:
        await defer_privately(interaction)
        try:
            styles = preset_styles(
                self.bot, style=style, style_2=style_2, style_3=style_3, style_weight=style_weight
            )
            parameters = preset_parameters(
                **styles,
                size=size,
                aspect=aspect and aspect.value,
                steps=steps,
                guidance=guidance,
                count=count,
                negative_prompt=negative,
                strength=strength,
            )
        except InvalidInput as exc:
            await send_privately(interaction, f"⚠️ {exc}")
            return
        if not parameters:
            await send_privately(
                interaction, "Give at least one setting to save (style, size, steps, …)."
            )
            return
        await self.bot.database.presets.upsert(
            PresetScope.USER, interaction.user.id, name, parameters
        )
        await send_privately(interaction, "Saved.\n" + describe_preset(name, parameters, self.bot))

    @app_commands.command(name="use", description="Draw with one of your presets")
    @app_commands.describe(name="The preset to use", prompt=HELP["prompt"])
    @app_commands.autocomplete(name=preset_autocomplete)
    async def use(
        self, interaction: discord.Interaction, name: str, prompt: app_commands.Range[str, 1, 1500]
    ) -> None:
        generate = self.bot.get_cog("GenerateCog")
        await generate.run(interaction, CommandInput(Mode.TXT2IMG, prompt, {}, preset=name))

    @app_commands.command(name="list", description="Your presets and this server's")
    async def list_(self, interaction: discord.Interaction) -> None:
        await defer_privately(interaction)
        presets = self.bot.database.presets
        mine = [p.name for p in await presets.list(PresetScope.USER, interaction.user.id)]
        lines = ["**Your presets:** " + (", ".join(mine) or "none yet (/preset save)")]
        if interaction.guild_id:
            server = [p.name for p in await presets.list(PresetScope.SERVER, interaction.guild_id)]
            lines.append("**This server's presets:** " + (", ".join(server) or "none"))
        await send_privately(interaction, "\n".join(lines)[:2000])

    @app_commands.command(name="show", description="What a preset sets")
    @app_commands.describe(name="The preset to show")
    @app_commands.autocomplete(name=preset_autocomplete)
    async def show(self, interaction: discord.Interaction, name: str) -> None:
        await defer_privately(interaction)
        try:
            preset = await self.bot.database.presets.find(
                name, user_id=interaction.user.id, guild_id=interaction.guild_id
            )
        except StorageError as exc:
            await send_privately(interaction, f"⚠️ {exc}")
            return
        await send_privately(
            interaction, describe_preset(preset.name, dict(preset.parameters), self.bot)
        )

    @app_commands.command(name="delete", description="Delete one of your presets")
    @app_commands.describe(name="The preset to delete")
    @app_commands.autocomplete(name=preset_autocomplete)
    async def delete(self, interaction: discord.Interaction, name: str) -> None:
        await defer_privately(interaction)
        deleted = await self.bot.database.presets.delete(
            PresetScope.USER, interaction.user.id, name
        )
        text = "Deleted." if deleted else f"You have no preset called {name!r}."
        await send_privately(interaction, text)

    @app_commands.command(name="default", description="Use a preset for every job (or none)")
    @app_commands.describe(name="Your preset to apply by default; leave empty to clear")
    @app_commands.autocomplete(name=preset_autocomplete)
    async def default(self, interaction: discord.Interaction, name: str | None = None) -> None:
        await defer_privately(interaction)
        try:
            await self.bot.database.users.upsert(interaction.user.id, default_preset=name)
        except StorageError as exc:
            await send_privately(interaction, f"⚠️ {exc}")
            return
        text = f"Your default preset is now {name!r}." if name else "Default preset cleared."
        await send_privately(interaction, text)


class StylesCog(commands.Cog):
    def __init__(self, bot: LcmBot) -> None:
        self.bot = bot

    @app_commands.command(name="styles", description="The styles you can pick here")
    async def styles(self, interaction: discord.Interaction) -> None:
        await defer_privately(interaction)
        bot = self.bot
        styles = bot.styles.for_architecture(bot.family.architecture)
        if interaction.guild_id:
            guild = await bot.database.guilds.get(interaction.guild_id)
            if guild.allowed_styles is not None:
                styles = [s for s in styles if s.name in guild.allowed_styles]
        if not styles:
            await send_privately(interaction, "No styles are available here.")
            return
        lines = [
            f"**{s.name}** (weight {s.default_weight})"
            + (f" — {s.description}" if s.description else "")
            + (f" · adds “{', '.join(s.trigger_words)}”" if s.trigger_words else "")
            for s in styles
        ]
        lines.append(
            f"-# Mix up to {MAX_STYLES} with style, style_2 and style_3. NAME:WEIGHT sets one "
            f"style's weight ({MIN_WEIGHT:g} to {MAX_WEIGHT:g}); style_weight sets the others'."
        )
        await send_privately(interaction, "\n".join(lines)[:2000])


async def setup(bot: LcmBot) -> None:
    await bot.add_cog(PresetCog(bot))
    await bot.add_cog(StylesCog(bot))
