"""A server's moderation: its log and showcase channels, its prompt blocklist, its showcases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.engine import read_session, write_session
from storage.errors import InvalidValue
from storage.models import (
    BLOCK_PATTERN_LENGTH,
    BlockKind,
    BlocklistEntry,
    ModerationSettings,
    ShowcasePost,
    utcnow,
)
from storage.repositories._values import insert_for, snowflake

CHANNELS = ("log", "showcase")


# A showcase claim whose post was never recorded (the process died between the claim and the
# record, or the record failed) is free again after this; the repost uses the same nonce.
SHOWCASE_CLAIM_EXPIRES = timedelta(minutes=3)


class ModerationRepository:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._clock = clock  # injectable: a test moves it past a claim's expiry

    # -- channels --------------------------------------------------------------------------
    async def settings(self, guild_id: int) -> ModerationSettings:
        """The server's moderation channels; none set when it never chose any (not saved)."""
        async with read_session(self._sessions) as session:
            row = await session.get(ModerationSettings, guild_id)
        return row or ModerationSettings(guild_id=guild_id)

    async def set_channel(
        self, guild_id: int, which: str, channel_id: int | None, *, set_by: int
    ) -> ModerationSettings:
        """Point the ``which`` channel ("log" or "showcase") at ``channel_id``; None turns it off.

        The caller checks Manage Guild and takes ``guild_id`` from the interaction.
        """
        if which not in CHANNELS:
            raise InvalidValue(f"the channel must be one of {', '.join(CHANNELS)}, not {which!r}")
        snowflake(guild_id, "guild_id")
        snowflake(channel_id, "channel_id")
        snowflake(set_by, "set_by")
        changes = {f"{which}_channel_id": channel_id, f"{which}_channel_set_by": set_by}
        now = utcnow()
        async with write_session(self._sessions) as session:
            statement = (
                insert_for(session)(ModerationSettings)
                .values(guild_id=guild_id, updated_at=now, **changes)
                .on_conflict_do_update(
                    index_elements=["guild_id"], set_={**changes, "updated_at": now}
                )
                .returning(ModerationSettings)
            )
            return await session.scalar(statement, execution_options={"populate_existing": True})

    async def set_showcase_reactions(self, guild_id: int, count: int | None) -> None:
        """⭐ reactions that showcase a result; None turns that off (the button still works)."""
        snowflake(guild_id, "guild_id")
        if count is not None and (isinstance(count, bool) or not 1 <= count <= 1000):
            raise InvalidValue("the showcase reaction count is a whole number from 1 to 1000")
        now = utcnow()
        async with write_session(self._sessions) as session:
            await session.execute(
                insert_for(session)(ModerationSettings)
                .values(guild_id=guild_id, updated_at=now, showcase_reactions=count)
                .on_conflict_do_update(
                    index_elements=["guild_id"],
                    set_={"showcase_reactions": count, "updated_at": now},
                )
            )

    # -- blocklist -------------------------------------------------------------------------
    async def blocklist(self, guild_id: int) -> list[BlocklistEntry]:
        """The server's own rules, oldest first."""
        async with read_session(self._sessions) as session:
            rows = await session.scalars(
                select(BlocklistEntry)
                .where(BlocklistEntry.guild_id == guild_id)
                .order_by(BlocklistEntry.id)
            )
            return list(rows)

    async def add_block(
        self, guild_id: int, kind: BlockKind, pattern: str, *, added_by: int, limit: int
    ) -> bool:
        """Add a rule (already checked by the caller); False when it was there already.

        Refuses with InvalidValue past ``limit`` rules in the server.
        """
        snowflake(guild_id, "guild_id")
        if not pattern or len(pattern) > BLOCK_PATTERN_LENGTH:
            raise InvalidValue(f"a pattern has 1 to {BLOCK_PATTERN_LENGTH} characters")
        async with write_session(self._sessions) as session:
            existing = await session.scalars(
                select(BlocklistEntry).where(BlocklistEntry.guild_id == guild_id)
            )
            rules = list(existing)
            if any(r.kind == kind and r.pattern == pattern for r in rules):
                return False
            if len(rules) >= limit:
                raise InvalidValue(
                    f"this server has {len(rules)} blocklist rules, the most allowed; "
                    "remove one first (/server blocklist remove)"
                )
            session.add(
                BlocklistEntry(
                    guild_id=guild_id, kind=BlockKind(kind), pattern=pattern, added_by=added_by
                )
            )
            return True

    async def remove_block(self, guild_id: int, pattern: str) -> int:
        """Remove the server's rules written exactly ``pattern`` (either kind); how many went."""
        async with write_session(self._sessions) as session:
            result = await session.execute(
                delete(BlocklistEntry).where(
                    BlocklistEntry.guild_id == guild_id, BlocklistEntry.pattern == pattern
                )
            )
            return result.rowcount

    # -- showcase --------------------------------------------------------------------------
    async def claim_showcase(
        self, job_id: int, guild_id: int, channel_id: int
    ) -> ShowcasePost | None:
        """Claim job ``job_id``'s place in the showcase; None (nothing claimed) if it has one.

        The claim is what makes a double press post once: only one of two presses inserts. A
        claim never marked posted (its process died, or the record failed) is taken again,
        by one press, once it is older than SHOWCASE_CLAIM_EXPIRES; its ``created_at`` is the
        time of the latest claim.
        """
        now = self._clock()
        async with write_session(self._sessions) as session:
            statement = (
                insert_for(session)(ShowcasePost)
                .values(job_id=job_id, guild_id=guild_id, channel_id=channel_id, created_at=now)
                .on_conflict_do_nothing(index_elements=["job_id"])
            )
            inserted = await session.execute(statement)
            if inserted.rowcount == 0:
                retaken = await session.execute(
                    update(ShowcasePost)
                    .where(
                        ShowcasePost.job_id == job_id,
                        ShowcasePost.message_id.is_(None),
                        ShowcasePost.created_at < now - SHOWCASE_CLAIM_EXPIRES,
                    )
                    .values(channel_id=channel_id, created_at=now)
                )
                if retaken.rowcount == 0:
                    return None
            return await session.get(ShowcasePost, job_id, populate_existing=True)

    async def showcase_post(self, job_id: int) -> ShowcasePost | None:
        async with read_session(self._sessions) as session:
            return await session.get(ShowcasePost, job_id)

    async def showcase_posted(self, job_id: int, message_id: int) -> None:
        async with write_session(self._sessions) as session:
            post = await session.get(ShowcasePost, job_id)
            if post is not None:
                post.message_id = message_id

    async def release_showcase(self, job_id: int) -> None:
        """Give the claim back: the post failed, so a later press may try again."""
        async with write_session(self._sessions) as session:
            await session.execute(
                delete(ShowcasePost).where(
                    ShowcasePost.job_id == job_id, ShowcasePost.message_id.is_(None)
                )
            )
