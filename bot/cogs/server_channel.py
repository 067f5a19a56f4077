"""/server channel allow|deny|clear|list|preset: where the bot is used, and a channel's default."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.autocomplete import style_autocomplete
from bot.cogs.server import may_manage
from bot.cogs.server_moderation import log_change
from bot.replies import defer_privately, send_privately
from storage.errors import StorageError
from storage.models import ChannelAccess, ChannelRule, PresetScope

if TYPE_CHECKING:
    from bot.app import LcmBot

AnyChannel = app_commands.AppCommandChannel | app_commands.AppCommandThread
CHANNEL_HELP = "A text channel or thread of this server that I can see"
NEEDS_MANAGE = "You need the Manage Server permission to change where the bot is used."


def visible_channel(
    interaction: discord.Interaction, channel: AnyChannel
) -> discord.TextChannel | discord.Thread | str:
    """The channel as the bot sees it, or the message saying why it cannot be used."""
    guild = interaction.guild
    found = guild.get_channel_or_thread(channel.id) if guild else None
    if found is None or not found.permissions_for(guild.me).view_channel:
        return (
            f"⚠️ channel: I can't see <#{channel.id}>. Give me View Channel there, or pick a "
            "text channel or thread I can see."
        )
    if not isinstance(found, discord.TextChannel | discord.Thread):
        return f"⚠️ channel: <#{channel.id}> is not a text channel or thread; pick one of those."
    return found


def rule_line(rule: ChannelRule, preset_names: dict[int, str]) -> str:
    parts = []
    if rule.access is not None:
        parts.append("allowed" if rule.access is ChannelAccess.ALLOW else "denied")
    if rule.preset_id is not None:
        parts.append(f"default preset {preset_names.get(rule.preset_id, rule.preset_id)!r}")
    if rule.style is not None:
        parts.append(f"default style {rule.style!r}")
    return f"• <#{rule.channel_id}>: " + (", ".join(parts) or "no rule")


class ChannelCommands(
    app_commands.Group, name="channel", description="Where the bot may be used, and defaults"
):
    """One instance per bot: the group is added under /server by the server cog."""

    def __init__(self, bot: LcmBot) -> None:
        super().__init__()
        self.bot = bot

    async def _access(
        self,
        interaction: discord.Interaction,
        channel: AnyChannel,
        access: ChannelAccess | None,
    ) -> str:
        if not may_manage(interaction):
            return NEEDS_MANAGE
        found = visible_channel(interaction, channel)
        if isinstance(found, str):
            return found
        try:
            await self.bot.database.limits.set_access(interaction.guild_id, found.id, access)
        except StorageError as exc:
            return f"⚠️ {exc}"
        await log_change(self.bot, interaction, f"channel <#{found.id}>: {access or 'cleared'}")
        return await self._summary(interaction, "Saved.")

    async def _summary(self, interaction: discord.Interaction, head: str) -> str:
        rules = await self.bot.database.limits.channels(interaction.guild_id)
        presets = await self.bot.database.presets.list(PresetScope.SERVER, interaction.guild_id)
        names = {preset.id: preset.name for preset in presets}
        allowed = [r for r in rules if r.access is ChannelAccess.ALLOW]
        where = (
            "only in the allowed channels (and their threads)"
            if allowed
            else "in every channel not denied"
        )
        lines = [head, f"The bot is used {where}."]
        lines += [rule_line(rule, names) for rule in rules]
        return "\n".join(lines)

    @app_commands.command(
        name="allow", description="Allow the bot here; once any channel is allowed, only those"
    )
    @app_commands.describe(channel=CHANNEL_HELP)
    async def allow(self, interaction: discord.Interaction, channel: AnyChannel) -> None:
        await defer_privately(interaction)
        await send_privately(
            interaction, await self._access(interaction, channel, ChannelAccess.ALLOW)
        )

    @app_commands.command(name="deny", description="Refuse every command of the bot in a channel")
    @app_commands.describe(channel=CHANNEL_HELP)
    async def deny(self, interaction: discord.Interaction, channel: AnyChannel) -> None:
        await defer_privately(interaction)
        await send_privately(
            interaction, await self._access(interaction, channel, ChannelAccess.DENY)
        )

    @app_commands.command(name="clear", description="Forget a channel's allow or deny")
    @app_commands.describe(channel=CHANNEL_HELP)
    async def clear(self, interaction: discord.Interaction, channel: AnyChannel) -> None:
        await defer_privately(interaction)
        await send_privately(interaction, await self._access(interaction, channel, None))

    @app_commands.command(name="list", description="Where the bot is used, and channel defaults")
    async def list_rules(self, interaction: discord.Interaction) -> None:
        await defer_privately(interaction)
        await send_privately(interaction, await self._summary(interaction, "**Channels**"))

    @app_commands.command(
        name="preset", description="Set or clear a channel's default preset or style"
    )
    @app_commands.describe(
        channel=CHANNEL_HELP,
        preset="One of this server's presets; jobs here start from it (leave both out to clear)",
        style="Or one style that jobs here use unless they pick their own",
    )
    @app_commands.autocomplete(style=style_autocomplete)
    async def preset(
        self,
        interaction: discord.Interaction,
        channel: AnyChannel,
        preset: app_commands.Range[str, 1, 100] | None = None,
        style: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        await defer_privately(interaction)
        if not may_manage(interaction):
            await send_privately(interaction, NEEDS_MANAGE)
            return
        found = visible_channel(interaction, channel)
        if isinstance(found, discord.Thread):  # jobs in a thread take its channel's default
            found = f"⚠️ channel: <#{found.id}> is a thread; set the default of its channel."
        if isinstance(found, str):
            await send_privately(interaction, found)
            return
        if style is not None and style not in self.bot.styles.names():
            await send_privately(interaction, f"⚠️ style: unknown style {style!r}. See /styles.")
            return
        try:
            await self.bot.database.limits.set_channel_default(
                interaction.guild_id, found.id, preset=preset, style=style
            )
        except StorageError as exc:
            await send_privately(interaction, f"⚠️ {exc}")
            return
        await log_change(
            self.bot,
            interaction,
            f"channel <#{found.id}> default: preset {preset!r}, style {style!r}",
        )
        await send_privately(interaction, await self._summary(interaction, "Saved."))
