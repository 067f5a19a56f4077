"""/server preset|settings: each server's house style and rules, written only by Manage Guild."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.generate import (
    ASPECT_CHOICES,
    PRESET_HELP,
    STYLE_AUTOCOMPLETE,
    STYLE_HELP,
    describe_for_family,
)
from bot.cogs.presets import describe_preset, preset_parameters, preset_styles
from bot.cogs.server_moderation import log_change, moderation_commands, moderation_lines
from bot.replies import defer_privately, send_privately
from bot.showcase import ShowcaseReactions
from bot.sweep_plan import DEFAULT_MAX_CELLS, HARD_MAX_CELLS
from generation.errors import InvalidInput
from generation.models.styles import MAX_WEIGHT, MIN_WEIGHT
from storage.errors import StorageError
from storage.models import PresetScope

if TYPE_CHECKING:
    from bot.app import LcmBot


def may_manage(interaction: discord.Interaction) -> bool:
    """Checked on every write: `default_permissions` is only a hint admins can change."""
    return interaction.guild_id is not None and interaction.permissions.manage_guild


class ServerCog(
    commands.GroupCog,
    group_name="server",
    group_description="This server's presets and rules (Manage Server)",
):
    def __init__(self, bot: LcmBot) -> None:
        self.bot = bot
        super().__init__()
        describe_for_family(self, bot.family)

    @app_commands.command(name="preset", description="Save, delete or make default a server preset")
    @app_commands.describe(
        name="The server preset's name",
        action="save (default), delete, or make it the server default",
        **{
            k: PRESET_HELP[k]
            for k in (*STYLE_HELP, "size", "steps", "guidance", "count", "negative", "aspect")
        },
    )
    @app_commands.choices(aspect=ASPECT_CHOICES)
    @app_commands.autocomplete(**STYLE_AUTOCOMPLETE)
    @app_commands.guild_only()
    async def preset(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 100],
        action: Literal["save", "delete", "make-default", "clear-default"] = "save",
        style: str | None = None,
        style_2: str | None = None,
        style_3: str | None = None,
        style_weight: app_commands.Range[float, MIN_WEIGHT, MAX_WEIGHT] | None = None,
        size: str | None = None,
        steps: app_commands.Range[int, 1, 8] | None = None,
        guidance: app_commands.Range[float, 0.0, 15.0] | None = None,
        count: app_commands.Range[int, 1, 4] | None = None,
        negative: app_commands.Range[str, 1, 1000] | None = None,
        aspect: app_commands.Choice[str] | None = None,
    ) -> None:
        await defer_privately(interaction)
        if not may_manage(interaction):
            await send_privately(
                interaction, "You need the Manage Server permission to change server presets."
            )
            return
        database, guild_id = self.bot.database, interaction.guild_id  # id from Discord, not input
        try:
            changed = True
            if action == "delete":
                changed = await database.presets.delete(PresetScope.SERVER, guild_id, name)
                text = "Deleted." if changed else f"This server has no preset called {name!r}."
            elif action == "make-default":
                await database.guilds.upsert(guild_id, default_preset=name)
                text = f"{name!r} is now this server's default preset."
            elif action == "clear-default":
                await database.guilds.upsert(guild_id, default_preset=None)
                text = "This server has no default preset now."
            else:
                styles = preset_styles(
                    self.bot,
                    style=style,
                    style_2=style_2,
                    style_3=style_3,
                    style_weight=style_weight,
                )
                parameters = preset_parameters(
                    **styles,
                    size=size,
                    aspect=aspect and aspect.value,
                    steps=steps,
                    guidance=guidance,
                    count=count,
                    negative_prompt=negative,
                )
                changed = bool(parameters)
                if not parameters:
                    text = "Give at least one setting to save (style, size, steps, …)."
                else:
                    await database.presets.upsert(PresetScope.SERVER, guild_id, name, parameters)
                    text = "Saved.\n" + describe_preset(name, parameters, self.bot)
            if changed:
                await log_change(self.bot, interaction, f"server preset {name!r}: {action}")
        except (StorageError, InvalidInput) as exc:
            text = f"⚠️ {exc}"
        await send_privately(interaction, text)

    @app_commands.command(name="settings", description="Show or change this server's rules")
    @app_commands.describe(
        nsfw_policy="Flagged images: block them, spoiler them, or allow in age-restricted channels",
        cooldown="Seconds a user waits between jobs",
        max_queued="Jobs one user may have waiting",
        max_count="Most images per job",
        max_steps="Most denoising steps per job",
        max_sweep_cells=f"Most cells on one /sweep sheet (default {DEFAULT_MAX_CELLS}, at most "
        f"{HARD_MAX_CELLS})",
        allowed_styles="Comma-separated style names users may pick; 'all' allows every style",
    )
    @app_commands.guild_only()
    async def settings(
        self,
        interaction: discord.Interaction,
        nsfw_policy: Literal["block", "spoiler", "allow_in_nsfw_channels"] | None = None,
        cooldown: app_commands.Range[int, 0, 3600] | None = None,
        max_queued: app_commands.Range[int, 1, 50] | None = None,
        max_count: app_commands.Range[int, 1, 4] | None = None,
        max_steps: app_commands.Range[int, 1, 8] | None = None,
        max_sweep_cells: app_commands.Range[int, 1, HARD_MAX_CELLS] | None = None,
        allowed_styles: str | None = None,
    ) -> None:
        await defer_privately(interaction)
        changes = {
            key: value
            for key, value in dict(
                nsfw_policy=nsfw_policy,
                cooldown_seconds=cooldown,
                max_queued_per_user=max_queued,
                max_count=max_count,
                max_steps=max_steps,
                max_sweep_cells=max_sweep_cells,
            ).items()
            if value is not None
        }
        if allowed_styles is not None:
            names = [n.strip() for n in allowed_styles.split(",") if n.strip()]
            unknown = [n for n in names if n not in self.bot.styles.names() and n != "all"]
            if unknown:
                await send_privately(
                    interaction, f"Unknown style(s): {', '.join(unknown)}. See /styles."
                )
                return
            changes["allowed_styles"] = None if names == ["all"] else names
        database, guild_id = self.bot.database, interaction.guild_id
        if changes:
            if not may_manage(interaction):
                await send_privately(
                    interaction, "You need the Manage Server permission to change these settings."
                )
                return
            try:
                await database.guilds.upsert(guild_id, **changes)
            except StorageError as exc:
                await send_privately(interaction, f"⚠️ {exc}")
                return
            await log_change(
                self.bot,
                interaction,
                "settings: " + ", ".join(f"{key} = {value}" for key, value in changes.items()),
            )
        guild = await database.guilds.get(guild_id)
        settings = self.bot.settings
        lines = [
            "**Server settings**" + (" (updated)" if changes else ""),
            f"• NSFW policy: {guild.nsfw_policy}",
            f"• cooldown: {_or(guild.cooldown_seconds, settings.lcm_cooldown_s)} s",
            "• jobs waiting per user: "
            + _or(guild.max_queued_per_user, settings.lcm_queue_per_user),
            f"• images per job: {_or(guild.max_count, 4)}",
            f"• steps per job: {_or(guild.max_steps, 8)}",
            f"• cells per sweep: {_or(guild.max_sweep_cells, DEFAULT_MAX_CELLS)}",
            "• styles: "
            + (
                "all" if guild.allowed_styles is None else ", ".join(guild.allowed_styles) or "none"
            ),
            *await moderation_lines(self.bot, guild_id),
        ]
        await send_privately(interaction, "\n".join(lines))


def _or(value, default) -> str:
    return f"{value}" if value is not None else f"{default} (bot default)"


async def setup(bot: LcmBot) -> None:
    # Limits by role and channel live in modules of their own, added under /server here.
    from bot.cogs.server_channel import ChannelCommands
    from bot.cogs.server_limits import build_limits_command, build_quota_command

    cog = ServerCog(bot)
    for command in (build_limits_command(bot), build_quota_command(bot), ChannelCommands(bot)):
        cog.app_command.add_command(command)
    # The blocklist, the moderators' log and the showcase channel (bot/cogs/server_moderation.py).
    for command in moderation_commands(bot):
        cog.app_command.add_command(command)
    await bot.add_cog(cog)
    await bot.add_cog(ShowcaseReactions(bot))
