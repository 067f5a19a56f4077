"""/server blocklist, /server log-channel and /server showcase-channel (Manage Server to write)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from bot.blocklist import MAX_PATTERN_LENGTH, MAX_RULES, REGEX_SYNTAX, BadPattern
from bot.blocklist import compile_rule as check_rule
from bot.mod_log_entries import setting_text
from bot.replies import defer_privately, send_privately
from storage.errors import StorageError
from storage.models import BlockKind

if TYPE_CHECKING:
    from bot.app import LcmBot

NEEDS_MANAGE = "You need the Manage Server permission to {what}."
# What the bot needs in a channel it posts the log or the showcase into.
CHANNEL_NEEDS = ("view_channel", "send_messages", "attach_files")
CHANNEL_KINDS = (discord.ChannelType.text, discord.ChannelType.news)


def may_manage(interaction: discord.Interaction) -> bool:
    """Checked on every write: `default_permissions` is only a hint admins can change."""
    return interaction.guild_id is not None and interaction.permissions.manage_guild


async def private(interaction: discord.Interaction, text: str) -> None:
    await send_privately(interaction, text[:2000])


async def log_change(bot: LcmBot, interaction: discord.Interaction, change: str) -> None:
    """One moderators' log entry for a change of this server's settings (who changed what)."""
    await bot.mod_log.record(
        interaction.guild_id,
        f"setting:{interaction.id}",
        setting_text(user_id=interaction.user.id, change=change),
    )


class BlocklistCommands(app_commands.Group):
    """The server's prompt blocklist, on top of the operator's (LCM_BLOCKLIST_FILE)."""

    def __init__(self, bot: LcmBot) -> None:
        super().__init__(
            name="blocklist",
            description="Words and patterns prompts may not contain (Manage Server)",
            guild_only=True,
        )
        self.bot = bot

    @app_commands.command(name="add", description="Block prompts containing a word or pattern")
    @app_commands.describe(
        pattern="A word or phrase (whole words, any case or accents), or a regular expression",
        kind="word (default): whole words; regex: an RE2 regular expression",
    )
    async def add(
        self,
        interaction: discord.Interaction,
        pattern: app_commands.Range[str, 1, MAX_PATTERN_LENGTH],
        kind: Literal["word", "regex"] = "word",
    ) -> None:
        await defer_privately(interaction)
        if not may_manage(interaction):
            await private(interaction, NEEDS_MANAGE.format(what="change the blocklist"))
            return
        pattern = pattern.strip()
        try:
            check_rule(kind, pattern)  # a malformed pattern is refused here, never at match time
            added = await self.bot.database.moderation.add_block(
                interaction.guild_id,
                BlockKind(kind),
                pattern,
                added_by=interaction.user.id,
                limit=MAX_RULES,
            )
        except (BadPattern, StorageError) as exc:
            await private(interaction, f"⚠️ Not added: {exc}.")
            return
        if not added:
            await private(interaction, f"The blocklist already has the {kind} `{pattern}`.")
            return
        await log_change(self.bot, interaction, f"blocklist: added the {kind} `{pattern}`")
        await private(
            interaction,
            f"Added the {kind} `{pattern}`: prompts and negative prompts that contain it are "
            "refused before any work, and the attempt goes to the moderators' log.",
        )

    @app_commands.command(name="remove", description="Stop blocking a word or pattern")
    @app_commands.describe(pattern="The word or pattern exactly as it was added (see list)")
    async def remove(
        self, interaction: discord.Interaction, pattern: app_commands.Range[str, 1, 200]
    ) -> None:
        await defer_privately(interaction)
        if not may_manage(interaction):
            await private(interaction, NEEDS_MANAGE.format(what="change the blocklist"))
            return
        pattern = pattern.strip()
        removed = await self.bot.database.moderation.remove_block(interaction.guild_id, pattern)
        if not removed:
            await private(
                interaction,
                f"⚠️ This server's blocklist has no `{pattern}`; see /server blocklist list "
                "(rules from the operator's file can only be changed there).",
            )
            return
        await log_change(self.bot, interaction, f"blocklist: removed `{pattern}`")
        await private(interaction, f"Removed `{pattern}`.")

    @app_commands.command(name="list", description="Show every rule and where it comes from")
    async def list_rules(self, interaction: discord.Interaction) -> None:
        await defer_privately(interaction)
        # The rules are kept from ordinary members: knowing them is knowing how to get round them.
        if not may_manage(interaction):
            await private(interaction, NEEDS_MANAGE.format(what="see the blocklist"))
            return
        operator = self.bot.admissions.prompt_screen.operator_rules
        entries = await self.bot.database.moderation.blocklist(interaction.guild_id)
        count = len(operator) + len(entries)
        syntax = f"Words match whole words in any case or accents; regex: {REGEX_SYNTAX}."
        lines = [f"**Prompt blocklist** ({count} rules)"]
        lines += [
            f"• {rule.kind} `{rule.pattern}` (operator file {rule.source})" for rule in operator
        ]
        lines += [
            f"• {e.kind} `{e.pattern}` (this server, added by <@{e.added_by}> "
            f"{discord.utils.format_dt(e.created_at, 'd')})"
            for e in entries
        ]
        if len(lines) == 1:
            lines.append("No rules: add one with /server blocklist add.")
        lines.append(syntax)
        text = "\n".join(lines)
        if len(text) <= 2000:
            await private(interaction, text)
            return
        # Too long for one message: every rule, in a file (plain text: a pattern as written).
        listing = [f"{r.kind} {r.pattern} (operator file {r.source})" for r in operator]
        listing += [
            f"{e.kind} {e.pattern} (this server, added by user {e.added_by} on "
            f"{e.created_at:%Y-%m-%d})"
            for e in entries
        ]
        data = ("\n".join(listing) + "\n").encode()
        await send_privately(
            interaction,
            f"**Prompt blocklist**: {count} rules ({len(operator)} from the operator's file, "
            f"{len(entries)} of this server), too many to show here: every rule is in the "
            f"attached file.\n{syntax}",
            file=discord.File(io.BytesIO(data), "blocklist.txt"),
        )


def channel_problem(interaction: discord.Interaction, channel_id: int) -> str | None:
    """Why the bot could not post in that channel, or None when it can."""
    guild = interaction.guild
    channel = guild.get_channel(channel_id) if guild else None
    if channel is None or guild is None or guild.me is None:
        return "I can't see that channel. Pick a text channel I can view and post in"
    if channel.type not in CHANNEL_KINDS:
        return f"#{channel.name} is not a text channel. Pick a text or announcement channel"
    permissions = channel.permissions_for(guild.me)
    if not permissions.view_channel:
        return (
            f"I can't see #{channel.name}. Grant me View Channel, Send Messages and Attach Files "
            "there, or pick a text channel I can post in"
        )
    missing = [name for name in CHANNEL_NEEDS if not getattr(permissions, name)]
    if missing:
        named = ", ".join(name.replace("_", " ").title() for name in missing)
        return f"I can't post in #{channel.name}: grant me {named} there, or pick another channel"
    return None


def channel_line(settings, which: str, title: str) -> str:
    """A moderation channel and who set it, or that it is off (the default)."""
    current = getattr(settings, f"{which}_channel_id")
    if current is None:
        return f"{title}: off (bot default; set one with /server {which}-channel)"
    return f"{title}: <#{current}> (set by <@{getattr(settings, f'{which}_channel_set_by')}>)"


async def moderation_lines(bot: LcmBot, guild_id: int) -> list[str]:
    """The moderation part of /server settings, each value with where it came from."""
    settings = await bot.database.moderation.settings(guild_id)
    own = len(await bot.database.moderation.blocklist(guild_id))
    operator = len(bot.admissions.prompt_screen.operator_rules)
    return [
        "• " + channel_line(settings, "log", "moderators' log"),
        "• " + channel_line(settings, "showcase", "showcase"),
        f"• prompt blocklist: {own} rule(s) of this server, {operator} from the operator's "
        "file (/server blocklist list)",
    ]


def channel_command(bot: LcmBot, which: str, title: str, purpose: str) -> app_commands.Command:
    """/server log-channel or /server showcase-channel: show, set or turn off one channel."""

    async def callback(
        interaction: discord.Interaction,
        channel: app_commands.AppCommandChannel | None = None,
        off: bool = False,
    ) -> None:
        await defer_privately(interaction)
        moderation = bot.database.moderation
        if channel is None and not off:
            settings = await moderation.settings(interaction.guild_id)
            await private(interaction, channel_line(settings, which, title))
            return
        if not may_manage(interaction):
            await private(interaction, NEEDS_MANAGE.format(what=f"change the {title.lower()}"))
            return
        if channel is not None and off:
            await private(interaction, "⚠️ Give a `channel`, or `off: True`, not both.")
            return
        if channel is not None and (problem := channel_problem(interaction, channel.id)):
            await private(interaction, f"⚠️ {problem}.")
            return
        new = channel.id if channel is not None else None
        change = f"{title.lower()} → " + (f"<#{new}>" if new else "off")
        if new is None:
            await log_change(bot, interaction, change)  # the old channel hears it goes quiet
        await moderation.set_channel(interaction.guild_id, which, new, set_by=interaction.user.id)
        if new is not None:
            await log_change(bot, interaction, change)
        await private(interaction, f"{title}: " + (f"<#{new}>. {purpose}" if new else "off."))

    described = app_commands.describe(
        channel=f"The text channel for the {title.lower()}; leave out to see the current one",
        off=f"True: turn the {title.lower()} off",
    )(callback)
    return app_commands.Command(
        name=f"{which}-channel",
        description=f"Show, set or turn off the {title.lower()} (Manage Server to change)",
        callback=described,
    )


def showcase_reactions_command(bot: LcmBot) -> app_commands.Command:
    """/server showcase-reactions: how many ⭐ reactions put a result in the showcase."""

    async def callback(
        interaction: discord.Interaction, count: app_commands.Range[int, 0, 1000] | None = None
    ) -> None:
        await defer_privately(interaction)
        moderation = bot.database.moderation
        if count is not None:
            if not may_manage(interaction):
                await private(interaction, NEEDS_MANAGE.format(what="change the showcase"))
                return
            await moderation.set_showcase_reactions(interaction.guild_id, count or None)
            await log_change(bot, interaction, f"showcase reactions → {count or 'off'}")
        settings = await moderation.settings(interaction.guild_id)
        if settings.showcase_reactions is None:
            text = "Showcase by reactions: off (bot default); the Showcase button still works."
        else:
            text = (
                f"Showcase by reactions: a result with {settings.showcase_reactions} ⭐ "
                "reactions is posted to the showcase channel, once."
            )
        await private(interaction, text)

    described = app_commands.describe(
        count="⭐ reactions that put a result in the showcase, 1 to 1000; 0 turns it off; "
        "leave out to see it"
    )(callback)
    return app_commands.Command(
        name="showcase-reactions",
        description="Show or set how many ⭐ reactions showcase a result (Manage Server to change)",
        callback=described,
    )


def moderation_commands(bot: LcmBot) -> list[app_commands.Command | app_commands.Group]:
    return [
        showcase_reactions_command(bot),
        BlocklistCommands(bot),
        channel_command(
            bot,
            "log",
            "Moderators' log",
            "It gets one entry per blocked prompt, posted result, deleted result and change of "
            "server settings.",
        ),
        channel_command(
            bot,
            "showcase",
            "Showcase channel",
            "A result's owner can post it there with its Showcase button.",
        ),
    ]
