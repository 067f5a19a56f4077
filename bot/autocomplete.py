"""Autocomplete for styles, presets and motions: users pick names, never type paths."""

from __future__ import annotations

from discord import Interaction, app_commands

from storage.models import PresetScope

MAX_CHOICES = 25  # Discord shows at most 25 suggestions


def _matching(names, current: str) -> list[app_commands.Choice[str]]:
    current = current.lower()
    hits = [name for name in names if current in name.lower()]
    return [app_commands.Choice(name=name[:100], value=name[:100]) for name in hits[:MAX_CHOICES]]


async def style_autocomplete(interaction: Interaction, current: str):
    bot = interaction.client
    names = [style.name for style in bot.styles.for_architecture(bot.family.architecture)]
    if interaction.guild_id:
        guild = await bot.database.guilds.get(interaction.guild_id)
        if guild.allowed_styles is not None:
            names = [name for name in names if name in guild.allowed_styles]
    return _matching(names, current)


async def preset_autocomplete(interaction: Interaction, current: str):
    presets = interaction.client.database.presets
    names = [p.name for p in await presets.list(PresetScope.USER, interaction.user.id)]
    if interaction.guild_id:
        server = await presets.list(PresetScope.SERVER, interaction.guild_id)
        names += [p.name for p in server if p.name not in names]
    return _matching(names, current)


async def motion_autocomplete(interaction: Interaction, current: str):
    return _matching(list(interaction.client.family.motion_loras), current)
