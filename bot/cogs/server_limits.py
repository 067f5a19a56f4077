"""/server limits and /server quota: limits by role and the daily quota, written by Manage Guild."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from bot.cogs.server import may_manage
from bot.cogs.server_moderation import log_change
from bot.quotas import period_start, reset_text
from bot.replies import defer_privately, send_privately
from storage.errors import StorageError
from storage.models import RoleLimits
from storage.repositories.limits import ROLE_LIMIT_FIELDS, ROLE_LIMIT_RANGES

if TYPE_CHECKING:
    from bot.app import LcmBot

SIDE = ROLE_LIMIT_RANGES["max_side"]
NEEDS_MANAGE = "You need the Manage Server permission to change {what}."
_SIZE = re.compile(r"\s*(\d{1,5})\s*(?:[x×]\s*(\d{1,5}))?\s*(?:px)?\s*")


def parse_side(text: str) -> int:
    """'768' or '768x512' as the longer side in pixels, or ValueError saying what is allowed."""
    match = _SIZE.fullmatch(text)
    low, high = SIDE
    if match is None:
        raise ValueError(
            f"max_size: {text!r} is not a size. Give the longer side in pixels, {low} to {high} "
            "(e.g. 768), or WIDTHxHEIGHT (e.g. 768x512)."
        )
    side = max(int(match.group(1)), int(match.group(2) or 0))
    if not low <= side <= high:
        raise ValueError(f"max_size: {side} px is out of range; allowed: {low} to {high} pixels.")
    return side


def role_line(row: RoleLimits, name: str) -> str:
    """A role's limits in one line; only the ones it sets."""
    words = {
        "cooldown_seconds": "cooldown {} s",
        "max_queued_per_user": "{} jobs waiting",
        "max_count": "{} images per job",
        "max_steps": "{} steps",
        "max_side": "{} px longer side",
        "daily_images": "{} images a day",
    }
    parts = [
        words[f].format(getattr(row, f)) for f in ROLE_LIMIT_FIELDS if getattr(row, f) is not None
    ]
    return f"• {name}: " + (", ".join(parts) or "nothing set")


def role_name(guild: discord.Guild | None, role_id: int) -> str:
    role = guild.get_role(role_id) if guild else None
    if role is None:
        return f"a deleted role ({role_id})"
    return "@everyone" if role.is_default() else f"@{role.name}"


def build_limits_command(bot: LcmBot) -> app_commands.Command:
    """/server limits, bound to ``bot`` (a fresh command per bot: commands keep their parent)."""

    @app_commands.command(name="limits", description="Show, set or clear a role's limits")
    @app_commands.describe(
        role="The role; @everyone sets every member's baseline. Leave out to list every role",
        action="set (default) the limits given, show the role's, or clear all of them",
        cooldown="Seconds between a member's jobs, 0 to 3600 (a member gets their shortest)",
        max_queued="Jobs a member may have waiting, 1 to 50 (a member gets their most)",
        max_count="Most images per job, 1 to 4",
        max_steps="Most denoising steps per job, 1 to 8",
        max_size=f"Longest picture side in pixels, {SIDE[0]} to {SIDE[1]} (e.g. 768 or 768x512)",
        daily_images="Images per member per day, 1 to 10000 (reset: /server quota)",
    )
    @app_commands.guild_only()
    async def limits(
        interaction: discord.Interaction,
        role: discord.Role | None = None,
        action: Literal["set", "show", "clear"] = "set",
        cooldown: app_commands.Range[int, 0, 3600] | None = None,
        max_queued: app_commands.Range[int, 1, 50] | None = None,
        max_count: app_commands.Range[int, 1, 4] | None = None,
        max_steps: app_commands.Range[int, 1, 8] | None = None,
        max_size: app_commands.Range[str, 1, 20] | None = None,
        daily_images: app_commands.Range[int, 1, 10000] | None = None,
    ) -> None:
        await defer_privately(interaction)
        text = await _limits(
            bot,
            interaction,
            role,
            action,
            dict(
                cooldown_seconds=cooldown,
                max_queued_per_user=max_queued,
                max_count=max_count,
                max_steps=max_steps,
                daily_images=daily_images,
            ),
            max_size,
        )
        await send_privately(interaction, text)

    return limits


async def _limits(bot, interaction, role, action, given, max_size) -> str:
    guild, repository = interaction.guild, bot.database.limits
    if role is None:
        if action != "show" and (any(v is not None for v in given.values()) or max_size):
            return "Name a `role` to set or clear limits for (or `action: show` to list them)."
        rows = await repository.roles(interaction.guild_id)
        if not rows:
            return "No role has limits here: every member has this server's settings."
        return "**Limits by role** (a member gets the most generous of theirs)\n" + "\n".join(
            role_line(row, role_name(guild, row.role_id)) for row in rows
        )
    if guild is None or guild.get_role(role.id) is None:
        return (
            f"⚠️ role: I don't know the role {role.id} in this server (deleted, or from another "
            "server). Pick one of this server's roles."
        )
    name = role_name(guild, role.id)
    if action == "show":
        rows = await repository.roles(interaction.guild_id, [role.id])
        return role_line(rows[0], name) if rows else f"{name} has no limits of its own."
    if not may_manage(interaction):
        return NEEDS_MANAGE.format(what="role limits")
    if action == "clear":
        cleared = await repository.clear_role(interaction.guild_id, role.id)
        if cleared:
            await log_change(bot, interaction, f"limits of {name}: cleared")
        return f"Cleared every limit of {name}." if cleared else f"{name} had no limits."
    changes = {k: v for k, v in given.items() if v is not None}
    try:
        if max_size is not None:
            changes["max_side"] = parse_side(max_size)
        if not changes:
            return "Give at least one limit to set (cooldown, max_queued, max_count, …)."
        row = await repository.set_role(interaction.guild_id, role.id, **changes)
    except (ValueError, StorageError) as exc:
        return f"⚠️ {exc}"
    changed = ", ".join(f"{key} = {value}" for key, value in changes.items())
    await log_change(bot, interaction, f"limits of {name}: {changed}")
    return "Saved.\n" + role_line(row, name)


def build_quota_command(bot: LcmBot) -> app_commands.Command:
    """/server quota: the daily images per member and the UTC hour the count starts again."""

    @app_commands.command(name="quota", description="Show or set the daily image quota")
    @app_commands.describe(
        daily_images="Images each member may make per day, 1 to 10000; 0 turns the quota off",
        reset_hour="The hour (UTC, 0 to 23) at which everyone's count starts again",
    )
    @app_commands.guild_only()
    async def quota(
        interaction: discord.Interaction,
        daily_images: app_commands.Range[int, 0, 10000] | None = None,
        reset_hour: app_commands.Range[int, 0, 23] | None = None,
    ) -> None:
        await defer_privately(interaction)
        repository = bot.database.quotas
        changes = {}
        if daily_images is not None:
            changes["daily_images"] = daily_images or None  # 0: no quota
        if reset_hour is not None:
            changes["reset_hour"] = reset_hour
        if changes and not may_manage(interaction):
            text = NEEDS_MANAGE.format(what="the quota")
        else:
            try:
                settings = (
                    await repository.set_settings(interaction.guild_id, **changes)
                    if changes
                    else await repository.settings(interaction.guild_id)
                )
            except StorageError as exc:
                text = f"⚠️ {exc}"
            else:
                if changes:
                    changed = ", ".join(f"{key} = {value}" for key, value in changes.items())
                    await log_change(bot, interaction, f"daily quota: {changed}")
                clock = bot.admissions.members.quotas.clock
                resets = period_start(clock(), settings.reset_hour)
                daily = settings.daily_images
                text = "\n".join(
                    [
                        "**Daily quota**" + (" (updated)" if changes else ""),
                        "• images per member per day: "
                        + (f"{daily}" if daily else "no quota (bot default)"),
                        f"• resets at {settings.reset_hour:02d}:00 UTC; next "
                        + reset_text(resets + timedelta(days=1)),
                        "Roles with more `daily_images` (/server limits) give their members more.",
                    ]
                )
        await send_privately(interaction, text)

    return quota
