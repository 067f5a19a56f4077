"""`Database`: the one object the bot builds from DATABASE_URL and passes around."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.engine import create_session_factory, engine_for
from storage.recovery import RecoveryReport, recover_jobs
from storage.repositories import GuildRepository, JobRepository, PresetRepository, UserRepository
from storage.repositories.limits import LimitsRepository
from storage.repositories.mod_log import ModLogRepository
from storage.repositories.moderation import ModerationRepository
from storage.repositories.quotas import QuotaRepository
from storage.retention import prune_history


@dataclass(frozen=True)
class Database:
    """The engine, its session factory and the repositories over it."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    users: UserRepository
    guilds: GuildRepository
    presets: PresetRepository
    jobs: JobRepository
    moderation: ModerationRepository
    mod_log: ModLogRepository
    limits: LimitsRepository
    quotas: QuotaRepository

    @classmethod
    def open(cls, url: str | URL, **engine_options: Any) -> Database:
        """Connect lazily to `url` (sqlite+aiosqlite or postgresql+asyncpg); nothing is read yet."""
        engine = engine_for(url, **engine_options)
        sessions = create_session_factory(engine)
        return cls(
            engine=engine,
            sessions=sessions,
            users=UserRepository(sessions),
            guilds=GuildRepository(sessions),
            presets=PresetRepository(sessions),
            jobs=JobRepository(sessions),
            moderation=ModerationRepository(sessions),
            mod_log=ModLogRepository(sessions),
            limits=LimitsRepository(sessions),
            quotas=QuotaRepository(sessions),
        )

    async def recover_jobs(self) -> RecoveryReport:
        """See `storage.recovery.recover_jobs`; call once at start-up."""
        return await recover_jobs(self.sessions)

    async def prune_history(self, older_than_days: float) -> int:
        """See `storage.retention.prune_history`."""
        return await prune_history(self.sessions, older_than_days)

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
