"""Server settings: NSFW policy, limits, default preset and allowed styles."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.engine import read_session, write_session
from storage.errors import InvalidValue, PresetNotFound
from storage.models import Guild, NsfwPolicy, Preset, PresetScope, utcnow
from storage.repositories._values import insert_for, snowflake
from storage.repositories.presets import preset_name


class Unset(enum.Enum):
    """Marks a setting `upsert` should leave alone (None already means "back to the built-in")."""

    UNSET = "unset"


UNSET = Unset.UNSET

# The smallest value each limit may take; None resets it to the bot's built-in limit.
_LIMIT_MINIMUMS = {
    "cooldown_seconds": 0,
    "max_queued_per_user": 1,
    "max_count": 1,
    "max_steps": 1,
    "max_sweep_cells": 1,
}
# The largest, where there is one: a sweep sheet's select menu offers one option per cell, and
# Discord allows 25.
_LIMIT_MAXIMUMS = {"max_sweep_cells": 25}


def _limit(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < _LIMIT_MINIMUMS[name]:
        raise InvalidValue(f"{name} must be a whole number of at least {_LIMIT_MINIMUMS[name]}")
    if name in _LIMIT_MAXIMUMS and value > _LIMIT_MAXIMUMS[name]:
        raise InvalidValue(f"{name} must be at most {_LIMIT_MAXIMUMS[name]}")
    return value


def _styles(value: Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(name, str) and name for name in value):
        raise InvalidValue("allowed_styles must be a list of style names, or None for all")
    return sorted(set(value))


class GuildRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, guild_id: int) -> Guild:
        """The server's settings; a server that never changed any gets the defaults (not saved)."""
        async with read_session(self._sessions) as session:
            return await session.get(Guild, guild_id) or Guild.defaults(guild_id)

    async def upsert(
        self,
        guild_id: int,
        *,
        nsfw_policy: NsfwPolicy | Unset = UNSET,
        cooldown_seconds: int | Unset | None = UNSET,
        max_queued_per_user: int | Unset | None = UNSET,
        max_count: int | Unset | None = UNSET,
        max_steps: int | Unset | None = UNSET,
        max_sweep_cells: int | Unset | None = UNSET,
        default_preset: str | Unset | None = UNSET,
        allowed_styles: Sequence[str] | Unset | None = UNSET,
    ) -> Guild:
        """Change the given settings and keep the rest; the first change creates the row.

        The caller checks Manage Guild and takes `guild_id` from the interaction, never from input.
        """
        snowflake(guild_id, "guild_id")
        changes: dict[str, Any] = {}
        if nsfw_policy is not UNSET:
            try:
                changes["nsfw_policy"] = NsfwPolicy(nsfw_policy)
            except ValueError:
                allowed = ", ".join(policy.value for policy in NsfwPolicy)
                raise InvalidValue(f"nsfw_policy must be one of {allowed}") from None
        for name, value in (
            ("cooldown_seconds", cooldown_seconds),
            ("max_queued_per_user", max_queued_per_user),
            ("max_count", max_count),
            ("max_steps", max_steps),
            ("max_sweep_cells", max_sweep_cells),
        ):
            if value is not UNSET:
                changes[name] = _limit(name, value)
        if allowed_styles is not UNSET:
            changes["allowed_styles"] = _styles(allowed_styles)

        now = utcnow()
        async with write_session(self._sessions) as session:
            if default_preset is not UNSET:
                changes["default_preset_id"] = await self._server_preset_id(
                    session, guild_id, default_preset
                )
            row = Guild.defaults(guild_id)
            inserted = {
                column.key: getattr(row, column.key) for column in Guild.__table__.columns
            } | changes
            statement = insert_for(session)(Guild).values(**inserted)
            statement = statement.on_conflict_do_update(
                index_elements=["id"], set_={**changes, "updated_at": now}
            ).returning(Guild)
            return await session.scalar(statement, execution_options={"populate_existing": True})

    async def delete(self, guild_id: int) -> bool:
        """Forget a server (the bot left it): its settings and its server presets."""
        async with write_session(self._sessions) as session:
            await session.execute(
                delete(Preset).where(
                    Preset.scope == PresetScope.SERVER, Preset.owner_id == guild_id
                )
            )
            result = await session.execute(delete(Guild).where(Guild.id == guild_id))
            return result.rowcount > 0

    @staticmethod
    async def _server_preset_id(
        session: AsyncSession, guild_id: int, name: str | None
    ) -> int | None:
        if name is None:
            return None
        preset_id = await session.scalar(
            select(Preset.id).where(
                Preset.scope == PresetScope.SERVER,
                Preset.owner_id == guild_id,
                Preset.name == preset_name(name),
            )
        )
        if preset_id is None:
            raise PresetNotFound(preset_name(name), "among this server's presets")
        return preset_id
