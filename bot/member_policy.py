"""The server's rules for one member in one channel, checked before any work: where, how much."""

from __future__ import annotations

from dataclasses import dataclass

import discord

from bot.channel_rules import check_channel
from bot.member_limits import MemberLimits, member_limits
from bot.quotas import Quotas, QuotaTaken
from bot.settings import Settings
from storage.models import Guild, QuotaSettings
from storage.repositories.limits import LimitsRepository
from storage.repositories.quotas import QuotaRepository


@dataclass(frozen=True)
class MemberAdmission:
    """What one admission may do: the member's limits and the server's quota settings."""

    guild_id: int | None
    user_id: int
    limits: MemberLimits
    quota: QuotaSettings


def role_ids_and_names(user: object) -> dict[int, str]:
    """The member's roles (with @everyone), by id; a user in a DM has none."""
    return {role.id: role.name.lstrip("@") for role in getattr(user, "roles", ())}


def parent_id(channel: object) -> int | None:
    """A thread's parent channel, whose rule the thread follows when it has none of its own."""
    return channel.parent_id if isinstance(channel, discord.Thread) else None


class MemberPolicy:
    """Channel rules, limits by role and daily quotas, read fresh for every admission."""

    def __init__(
        self,
        *,
        limits: LimitsRepository,
        quota_repository: QuotaRepository,
        settings: Settings,
        quotas: Quotas | None = None,
    ) -> None:
        self._limits = limits
        self._settings = settings  # read at each admission: the operator's defaults
        self.quotas = quotas or Quotas(quota_repository)

    async def admission(
        self,
        guild: Guild,
        user: object,
        channel_id: int | None,
        channel: object,
        guild_id: int | None,
    ) -> MemberAdmission:
        """Refuse where the bot is not used or the day's quota is spent; else the limits."""
        user_id = user.id  # type: ignore[attr-defined]
        if guild_id is None:  # a direct message: the bot's defaults, no quota
            quota = QuotaSettings(guild_id=0, daily_images=None, reset_hour=0)
            limits = member_limits(guild, quota, (), {}, self._settings)
            return MemberAdmission(None, user_id, limits, quota)
        check_channel(await self._limits.channels(guild_id), channel_id or 0, parent_id(channel))
        admitted = await self.limits_for(guild, user, guild_id)
        if admitted.limits.daily_images is not None:
            status = await self.quotas.status(guild_id, user_id, admitted.limits, admitted.quota)
            self.quotas.refuse_if_spent(status)
        return admitted

    async def limits_for(self, guild: Guild, user: object, guild_id: int) -> MemberAdmission:
        """The member's limits in a server (their roles over the server's), without refusing."""
        roles = role_ids_and_names(user)
        rows = await self._limits.roles(guild_id, roles) if roles else []
        quota = await self.quotas.repository.settings(guild_id)
        limits = member_limits(guild, quota, rows, roles, self._settings)
        return MemberAdmission(guild_id, user.id, limits, quota)  # type: ignore[attr-defined]

    async def take_images(self, admitted: MemberAdmission, images: int) -> QuotaTaken | None:
        """Count ``images`` against the member's day (None in a DM: nothing to count)."""
        if admitted.guild_id is None:
            return None
        return await self.quotas.take(
            admitted.guild_id, admitted.user_id, images, admitted.limits, admitted.quota
        )
