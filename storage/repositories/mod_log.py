"""The moderators' log outbox: each event journaled once, then marked when it is posted."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.engine import read_session, write_session
from storage.models import ModLogEntry, utcnow
from storage.repositories._values import insert_for, snowflake

MAX_KEY_LENGTH = 100


class ModLogRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(
        self,
        *,
        guild_id: int,
        channel_id: int,
        event_key: str,
        content: str,
        thumbnail: bytes | None = None,
    ) -> ModLogEntry | None:
        """Journal an event; None when ``event_key`` was journaled before (it keeps one entry)."""
        snowflake(guild_id, "guild_id")
        snowflake(channel_id, "channel_id")
        async with write_session(self._sessions) as session:
            statement = (
                insert_for(session)(ModLogEntry)
                .values(
                    guild_id=guild_id,
                    channel_id=channel_id,
                    event_key=event_key[:MAX_KEY_LENGTH],
                    content=content,
                    thumbnail=thumbnail,
                    created_at=utcnow(),
                    attempts=0,
                )
                .on_conflict_do_nothing(index_elements=["event_key"])
                .returning(ModLogEntry)
            )
            return await session.scalar(statement)

    async def pending(self, limit: int = 500) -> list[ModLogEntry]:
        """Entries not posted yet, oldest first."""
        async with read_session(self._sessions) as session:
            rows = await session.scalars(
                select(ModLogEntry)
                .where(ModLogEntry.posted_at.is_(None))
                .order_by(ModLogEntry.id)
                .limit(limit)
            )
            return list(rows)

    async def entries(self, guild_id: int) -> list[ModLogEntry]:
        async with read_session(self._sessions) as session:
            rows = await session.scalars(
                select(ModLogEntry).where(ModLogEntry.guild_id == guild_id).order_by(ModLogEntry.id)
            )
            return list(rows)

    async def posted(self, entry_id: int, message_id: int) -> None:
        async with write_session(self._sessions) as session:
            entry = await session.get(ModLogEntry, entry_id)
            if entry is not None:
                entry.posted_at = utcnow()
                entry.message_id = message_id
                # Posted: the copy on Discord is the one that counts. The row stays, without the
                # prompt and picture, so the event key keeps the entry from being posted again.
                entry.content = ""
                entry.thumbnail = None

    async def attempt_failed(self, entry_id: int, *, give_up_after: int) -> bool:
        """Count a failed post; True when the entry is given up (marked, never retried)."""
        async with write_session(self._sessions) as session:
            entry = await session.get(ModLogEntry, entry_id)
            if entry is None:
                return True
            entry.attempts += 1
            if entry.attempts >= give_up_after:
                entry.posted_at = utcnow()  # message_id stays None: it never reached Discord
                return True
            return False
