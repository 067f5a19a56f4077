"""Daily image quotas per member: the server's setting and what each member has used."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.engine import read_session, write_session
from storage.errors import InvalidValue
from storage.models import QuotaSettings, QuotaUsage, utcnow
from storage.repositories._values import insert_for, snowflake
from storage.repositories.guilds import UNSET, Unset

DAILY_IMAGES_RANGE = (1, 10_000)


@dataclass(frozen=True)
class QuotaTake:
    """The outcome of asking for images: whether they were granted and the day's use after."""

    granted: bool
    used: int


def _daily_images(value: int | None) -> int | None:
    low, high = DAILY_IMAGES_RANGE
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidValue(
            f"daily_images must be a whole number from {low} to {high}, not {value!r}"
        )
    return value


def _reset_hour(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
        raise InvalidValue(f"reset_hour must be an hour of the day in UTC, 0 to 23, not {value!r}")
    return value


class QuotaRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def settings(self, guild_id: int) -> QuotaSettings:
        """The server's quota; a server that set none has no quota and resets at 00:00 UTC."""
        async with read_session(self._sessions) as session:
            found = await session.get(QuotaSettings, guild_id)
            return found or QuotaSettings(guild_id=guild_id, daily_images=None, reset_hour=0)

    async def set_settings(
        self,
        guild_id: int,
        *,
        daily_images: int | Unset | None = UNSET,
        reset_hour: int | Unset = UNSET,
    ) -> QuotaSettings:
        """Change the given settings (daily_images None: no quota) and keep the other."""
        snowflake(guild_id, "guild_id")
        changes = {}
        if daily_images is not UNSET:
            changes["daily_images"] = _daily_images(daily_images)
        if reset_hour is not UNSET:
            changes["reset_hour"] = _reset_hour(reset_hour)
        row = {"daily_images": None, "reset_hour": 0} | changes
        async with write_session(self._sessions) as session:
            statement = insert_for(session)(QuotaSettings).values(
                guild_id=guild_id, updated_at=utcnow(), **row
            )
            statement = statement.on_conflict_do_update(
                index_elements=["guild_id"], set_={**changes, "updated_at": utcnow()}
            ).returning(QuotaSettings)
            return await session.scalar(statement, execution_options={"populate_existing": True})

    async def used(self, guild_id: int, user_id: int, period_start: datetime) -> int:
        """Images the member was admitted since ``period_start`` (0 when the count is older)."""
        async with read_session(self._sessions) as session:
            row = await session.get(QuotaUsage, (guild_id, user_id))
            return row.images if row is not None and row.period_start >= period_start else 0

    async def take(
        self, guild_id: int, user_id: int, images: int, *, limit: int, period_start: datetime
    ) -> QuotaTake:
        """Grant ``images`` if the member stays within ``limit`` since ``period_start``.

        Read and written in one write transaction (BEGIN IMMEDIATE on SQLite, a row lock on
        PostgreSQL), so two commands of one member racing cannot both spend the last images.
        """
        snowflake(guild_id, "guild_id")
        snowflake(user_id, "user_id")
        async with write_session(self._sessions) as session:
            await session.execute(
                insert_for(session)(QuotaUsage)
                .values(guild_id=guild_id, user_id=user_id, period_start=period_start, images=0)
                .on_conflict_do_nothing(index_elements=["guild_id", "user_id"])
            )
            row = await session.get(
                QuotaUsage, (guild_id, user_id), with_for_update=True, populate_existing=True
            )
            if row.period_start < period_start:  # a reset hour has passed since: a new day
                row.period_start, row.images = period_start, 0
            if row.images + images > limit:
                return QuotaTake(False, row.images)
            row.images += images
            return QuotaTake(True, row.images)

    async def give_back(
        self, guild_id: int, user_id: int, images: int, *, period_start: datetime
    ) -> None:
        """Return images taken in this period (a job that was not admitted after all)."""
        async with write_session(self._sessions) as session:
            row = await session.get(
                QuotaUsage, (guild_id, user_id), with_for_update=True, populate_existing=True
            )
            # Only the period the images were taken in: after a reset the row counts a new day,
            # which a refund of the old day's images must not lower.
            if row is not None and row.period_start == period_start:
                row.images = max(0, row.images - images)
