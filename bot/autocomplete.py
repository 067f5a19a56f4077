"""Autocomplete for styles, presets and motions: users pick names, never type paths."""

from __future__ import annotations

from discord import Interaction, app_commands

from bot.style_options import STYLE_OPTIONS
from storage.models import PresetScope

MAX_CHOICES = 25  # Discord shows at most 25 suggestions


def _matching(names, current: str) -> list[app_commands.Choice[str]]:
    current = current.lower()
    hits = [name for name in names if current in name.lower()]
    return [app_commands.Choice(name=name[:100], value=name[:100]) for name in hits[:MAX_CHOICES]]


async def style_autocomplete(interaction: Interaction, current: str):
    """Style names not picked in another style option; keeps a typed ``:WEIGHT`` and comma list.

    Free text stays allowed: Discord sends what was typed even when no suggestion matches.
    """
    bot = interaction.client
    allowed = None
    if interaction.guild_id:
        allowed = (await bot.database.guilds.get(interaction.guild_id)).allowed_styles
    styles = {
        style.name: style
        for style in bot.styles.for_architecture(bot.family.architecture)
        if allowed is None or style.name in allowed
    }
    focused = _focused_option(interaction.data.get("options", []) if interaction.data else [])
    done, comma, last = current.rpartition(",")
    taken = _named_styles(done)
    for option in STYLE_OPTIONS:
        if option != focused:
            taken |= _named_styles(getattr(interaction.namespace, option, None))
    prefix = f"{done}, " if comma else ""
    typed, colon, weight = last.strip().partition(":")
    choices = []
    for name, style in styles.items():
        if name in taken or typed.lower() not in name:
            continue
        value = f"{prefix}{name}" + (f":{weight.strip()}" if colon else "")
        label = value
        if not colon:  # show what the style does and the weight it gets by default
            label += f" (weight {style.default_weight:g})"
            label += f" — {style.description}" if style.description else ""
        if len(value) <= 100:
            choices.append(app_commands.Choice(name=label[:100], value=value))
    return choices[:MAX_CHOICES]


def _focused_option(options: list) -> str | None:
    """The name of the option being typed in (subcommands nest their options)."""
    for option in options:
        if option.get("focused"):
            return option.get("name")
        found = _focused_option(option.get("options", []))
        if found:
            return found
    return None


def _named_styles(text: str | None) -> set[str]:
    """The style names in a NAME[:WEIGHT], ... text, as far as it reads."""
    if not text:
        return set()
    return {part.partition(":")[0].strip().lower() for part in str(text).split(",")}


async def preset_autocomplete(interaction: Interaction, current: str):
    presets = interaction.client.database.presets
    names = [p.name for p in await presets.list(PresetScope.USER, interaction.user.id)]
    if interaction.guild_id:
        server = await presets.list(PresetScope.SERVER, interaction.guild_id)
        names += [p.name for p in server if p.name not in names]
    return _matching(names, current)


async def motion_autocomplete(interaction: Interaction, current: str):
    return _matching(list(interaction.client.family.motion_loras), current)
