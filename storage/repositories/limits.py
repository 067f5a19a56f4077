"""Per-server limits by role and the rules per channel: where the bot works, a channel's default."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.engine import read_session, write_session
from storage.errors import InvalidValue
from storage.models import ChannelAccess, ChannelRule, RoleLimits, utcnow
from storage.precedence import NamedParameters
from storage.repositories._values import insert_for, snowflake
from storage.repositories.guilds import UNSET, GuildRepository, Unset
from storage.repositories.presets import channel_default

# What each role limit may be set to (inclusive); the same bounds the slash options offer.
ROLE_LIMIT_RANGES = {
    "cooldown_seconds": (0, 3600),
    "max_queued_per_user": (1, 50),
    "max_count": (1, 4),
    "max_steps": (1, 8),
    "max_side": (64, 2048),
    "daily_images": (1, 10_000),
}
ROLE_LIMIT_FIELDS = tuple(ROLE_LIMIT_RANGES)


def check_limit(name: str, value: int | None) -> int | None:
    """The value, or InvalidValue naming the limit and the range it allows."""
    if value is None:
        return None
    low, high = ROLE_LIMIT_RANGES[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidValue(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    return value


class LimitsRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # -- roles -----------------------------------------------------------------------------
    async def roles(self, guild_id: int, role_ids: Iterable[int] | None = None) -> list[RoleLimits]:
        """The limits set for ``role_ids`` (every role with limits when None), by role id."""
        statement = select(RoleLimits).where(RoleLimits.guild_id == guild_id)
        if role_ids is not None:
            statement = statement.where(RoleLimits.role_id.in_(list(role_ids)))
        async with read_session(self._sessions) as session:
            return list(await session.scalars(statement.order_by(RoleLimits.role_id)))

    async def set_role(
        self, guild_id: int, role_id: int, **limits: int | Unset | None
    ) -> RoleLimits:
        """Change the given limits of one role (None clears one) and keep the rest."""
        snowflake(guild_id, "guild_id")
        snowflake(role_id, "role_id")
        unknown = set(limits) - set(ROLE_LIMIT_FIELDS)
        if unknown:
            raise InvalidValue(
                f"unknown role limit(s) {sorted(unknown)}; known: {ROLE_LIMIT_FIELDS}"
            )
        changes = {k: check_limit(k, v) for k, v in limits.items() if v is not UNSET}
        inserted = {name: None for name in ROLE_LIMIT_FIELDS} | changes
        async with write_session(self._sessions) as session:
            statement = insert_for(session)(RoleLimits).values(
                guild_id=guild_id, role_id=role_id, updated_at=utcnow(), **inserted
            )
            statement = statement.on_conflict_do_update(
                index_elements=["guild_id", "role_id"], set_={**changes, "updated_at": utcnow()}
            ).returning(RoleLimits)
            return await session.scalar(statement, execution_options={"populate_existing": True})

    async def clear_role(self, guild_id: int, role_id: int) -> bool:
        """Forget every limit of one role; False when it had none."""
        async with write_session(self._sessions) as session:
            result = await session.execute(
                delete(RoleLimits).where(
                    RoleLimits.guild_id == guild_id, RoleLimits.role_id == role_id
                )
            )
            return result.rowcount > 0

    # -- channels --------------------------------------------------------------------------
    async def channels(self, guild_id: int) -> list[ChannelRule]:
        async with read_session(self._sessions) as session:
            statement = select(ChannelRule).where(ChannelRule.guild_id == guild_id)
            return list(await session.scalars(statement.order_by(ChannelRule.channel_id)))

    async def set_access(
        self, guild_id: int, channel_id: int, access: ChannelAccess | None
    ) -> ChannelRule:
        """Allow or deny the bot in one channel (None: neither, the server's rule applies)."""
        if access is not None:
            try:
                access = ChannelAccess(access)
            except ValueError:
                allowed = ", ".join(a.value for a in ChannelAccess)
                raise InvalidValue(f"access must be one of {allowed}") from None
        return await self._upsert_channel(guild_id, channel_id, {"access": access})

    async def set_channel_default(
        self, guild_id: int, channel_id: int, *, preset: str | None, style: str | None
    ) -> ChannelRule:
        """A channel's default: one of the server's presets, or one style; both None clears it."""
        if preset is not None and style is not None:
            raise InvalidValue("a channel's default is a preset or a style, not both")
        if style is not None and not (0 < len(style) <= 100):
            raise InvalidValue("style must be a style name of 1 to 100 characters")
        async with write_session(self._sessions) as session:
            preset_id = await GuildRepository._server_preset_id(session, guild_id, preset)
            return await self._upsert_in(
                session, guild_id, channel_id, {"preset_id": preset_id, "style": style}
            )

    async def channel_layer(self, guild_id: int, channel_id: int) -> NamedParameters | None:
        """The channel's default as a precedence layer: its preset's parameters, or its style."""
        async with read_session(self._sessions) as session:
            return await channel_default(session, guild_id, channel_id)

    async def _upsert_channel(
        self, guild_id: int, channel_id: int, changes: dict[str, Any]
    ) -> ChannelRule:
        async with write_session(self._sessions) as session:
            return await self._upsert_in(session, guild_id, channel_id, changes)

    @staticmethod
    async def _upsert_in(
        session: AsyncSession, guild_id: int, channel_id: int, changes: dict[str, Any]
    ) -> ChannelRule:
        snowflake(guild_id, "guild_id")
        snowflake(channel_id, "channel_id")
        row = {"access": None, "preset_id": None, "style": None} | changes
        statement = insert_for(session)(ChannelRule).values(
            guild_id=guild_id, channel_id=channel_id, updated_at=utcnow(), **row
        )
        statement = statement.on_conflict_do_update(
            index_elements=["guild_id", "channel_id"], set_={**changes, "updated_at": utcnow()}
        ).returning(ChannelRule)
        return await session.scalar(statement, execution_options={"populate_existing": True})
