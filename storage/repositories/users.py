"""Users: the default preset, and deleting everything stored about one person."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.engine import read_session, write_session
from storage.errors import PresetNotFound
from storage.models import Job, JobInput, Preset, PresetScope, User, utcnow
from storage.repositories._values import insert_for, snowflake
from storage.repositories.presets import preset_name


@dataclass(frozen=True)
class DeletedUserData:
    """What `delete_user_data` removed, to confirm it to the user."""

    presets: int
    jobs: int
    inputs: int
    user: bool


class UserRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, user_id: int) -> User | None:
        async with read_session(self._sessions) as session:
            return await session.get(User, user_id)

    async def upsert(self, user_id: int, *, default_preset: str | None) -> User:
        """Set (or clear, with None) the user's default preset, which must be one of their own."""
        snowflake(user_id, "user_id")
        now = utcnow()
        async with write_session(self._sessions) as session:
            preset_id = None
            if default_preset is not None:
                preset_id = await session.scalar(
                    select(Preset.id).where(
                        Preset.scope == PresetScope.USER,
                        Preset.owner_id == user_id,
                        Preset.name == preset_name(default_preset),
                    )
                )
                if preset_id is None:
                    raise PresetNotFound(preset_name(default_preset), "among your presets")
            statement = insert_for(session)(User).values(
                id=user_id, default_preset_id=preset_id, created_at=now, updated_at=now
            )
            statement = statement.on_conflict_do_update(
                index_elements=["id"], set_={"default_preset_id": preset_id, "updated_at": now}
            ).returning(User)
            return await session.scalar(statement, execution_options={"populate_existing": True})

    async def delete_user_data(self, user_id: int) -> DeletedUserData:
        """Delete the user's row, their own presets and their whole job history, in one transaction.

        Server presets stay: they belong to the server. Other people's re-rolls of this user's jobs
        stay too, with their parent link cleared by the database.
        """
        async with write_session(self._sessions) as session:
            inputs = await session.scalar(
                select(func.count())
                .select_from(JobInput)
                .join(Job, Job.id == JobInput.job_id)
                .where(Job.user_id == user_id)
            )
            jobs = await session.execute(delete(Job).where(Job.user_id == user_id))
            presets = await session.execute(
                delete(Preset).where(Preset.scope == PresetScope.USER, Preset.owner_id == user_id)
            )
            user = await session.execute(delete(User).where(User.id == user_id))
            return DeletedUserData(
                presets=presets.rowcount,
                jobs=jobs.rowcount,
                inputs=inputs or 0,
                user=user.rowcount > 0,
            )
