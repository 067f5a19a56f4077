"""Presets: named parameter sets owned by a user or a server, and the layers precedence reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.engine import read_session, write_session
from storage.errors import InvalidValue, PresetNotFound
from storage.models import PRESET_NAME_LENGTH, ChannelRule, Guild, Preset, PresetScope, User, utcnow
from storage.precedence import NamedParameters, PresetLayers
from storage.repositories._values import insert_for, plain_json, snowflake


def preset_name(name: str) -> str:
    """The stored form of a preset name: trimmed, 1 to 100 characters (a Discord option's limit)."""
    cleaned = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(cleaned) <= PRESET_NAME_LENGTH:
        raise InvalidValue(f"a preset name must be 1 to {PRESET_NAME_LENGTH} characters")
    return cleaned


async def _get(
    session: AsyncSession, scope: PresetScope, owner_id: int, name: str
) -> Preset | None:
    return await session.scalar(
        select(Preset).where(
            Preset.scope == scope, Preset.owner_id == owner_id, Preset.name == preset_name(name)
        )
    )


async def _by_id(session: AsyncSession, preset_id: int | None) -> NamedParameters | None:
    if preset_id is None:
        return None
    preset = await session.get(Preset, preset_id)
    return None if preset is None else NamedParameters(preset.name, preset.parameters)


async def channel_default(
    session: AsyncSession, guild_id: int | None, channel_id: int | None
) -> NamedParameters | None:
    """A channel's default as a precedence layer: its server preset's parameters, or its style."""
    if guild_id is None or channel_id is None:
        return None
    rule = await session.get(ChannelRule, (guild_id, channel_id))
    if rule is None:
        return None
    if rule.preset_id is not None:
        found = await _by_id(session, rule.preset_id)
        if found is not None:
            return found
    if rule.style is not None:
        return NamedParameters(rule.style, {"styles": [{"name": rule.style}]})
    return None


class PresetRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, scope: PresetScope, owner_id: int, name: str) -> Preset | None:
        async with read_session(self._sessions) as session:
            return await _get(session, PresetScope(scope), owner_id, name)

    async def list(self, scope: PresetScope, owner_id: int) -> list[Preset]:
        """The presets of one user or one server, by name ignoring case (as a menu shows them)."""
        async with read_session(self._sessions) as session:
            rows = await session.scalars(
                select(Preset)
                .where(Preset.scope == PresetScope(scope), Preset.owner_id == owner_id)
                .order_by(func.lower(Preset.name), Preset.name)
            )
            return list(rows)

    async def upsert(
        self, scope: PresetScope, owner_id: int, name: str, parameters: Mapping[str, Any]
    ) -> Preset:
        """Create the preset, or replace the parameters of the one with this name."""
        scope = PresetScope(scope)
        values = {
            "scope": scope,
            "owner_id": snowflake(owner_id, "owner_id"),
            "name": preset_name(name),
            "parameters": plain_json(parameters, "preset parameters"),
        }
        now = utcnow()
        async with write_session(self._sessions) as session:
            insert = insert_for(session)
            statement = insert(Preset).values(**values, created_at=now, updated_at=now)
            statement = statement.on_conflict_do_update(
                index_elements=["scope", "owner_id", "name"],
                set_={"parameters": statement.excluded.parameters, "updated_at": now},
            ).returning(Preset)
            return await session.scalar(statement, execution_options={"populate_existing": True})

    async def delete(self, scope: PresetScope, owner_id: int, name: str) -> bool:
        """Delete one preset; defaults that pointed at it are cleared by the database."""
        async with write_session(self._sessions) as session:
            result = await session.execute(
                delete(Preset).where(
                    Preset.scope == PresetScope(scope),
                    Preset.owner_id == owner_id,
                    Preset.name == preset_name(name),
                )
            )
            return result.rowcount > 0

    async def find(self, name: str, *, user_id: int, guild_id: int | None) -> Preset:
        """The preset a command names: the user's own first, then the server's."""
        async with read_session(self._sessions) as session:
            return await self._find(session, name, user_id=user_id, guild_id=guild_id)

    async def layers(
        self,
        *,
        user_id: int,
        guild_id: int | None,
        preset: str | None = None,
        channel_id: int | None = None,
    ) -> PresetLayers:
        """Everything stored that precedence needs for one command, read in one snapshot.

        Raises PresetNotFound when `preset` names nothing, so the user hears about the typo.
        """
        async with read_session(self._sessions) as session:
            named = None
            if preset is not None:
                found = await self._find(session, preset, user_id=user_id, guild_id=guild_id)
                named = NamedParameters(found.name, found.parameters)
            user = await session.get(User, user_id)
            guild = await session.get(Guild, guild_id) if guild_id is not None else None
            return PresetLayers(
                preset=named,
                user_default=await _by_id(session, user and user.default_preset_id),
                server_default=await _by_id(session, guild and guild.default_preset_id),
                channel_default=await channel_default(session, guild_id, channel_id),
            )

    @staticmethod
    async def _find(
        session: AsyncSession, name: str, *, user_id: int, guild_id: int | None
    ) -> Preset:
        found = await _get(session, PresetScope.USER, user_id, name)
        if found is None and guild_id is not None:
            found = await _get(session, PresetScope.SERVER, guild_id, name)
        if found is None:
            where = "among your presets or this server's" if guild_id else "among your presets"
            raise PresetNotFound(preset_name(name), where)
        return found
