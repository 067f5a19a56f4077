"""Jobs: the journal written before a job is submitted, its state changes, and the history."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.engine import read_session, write_session
from storage.errors import InvalidValue
from storage.models import InputRole, Job, JobInput, JobStatus, utcnow
from storage.repositories._values import plain_json, snowflake

# A job is started at most this many times: once, and once more if the bot died while it ran.
# A job that was running through two crashes is failed instead (it may be what crashes the bot).
MAX_RUNS = 2

# Long enough for any exception message worth showing; a traceback does not belong in history.
ERROR_LENGTH = 2000

_COMMAND_LENGTH = Job.__table__.c.command.type.length


def _seeds(seeds: Sequence[int]) -> list[int]:
    if isinstance(seeds, str | bytes) or not all(
        isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 for seed in seeds
    ):
        raise InvalidValue("seeds must be a list of non-negative whole numbers")
    return list(seeds)


def _inputs(inputs: Mapping[str, bytes] | None) -> dict[str, bytes]:
    checked: dict[str, bytes] = {}
    for role, data in (inputs or {}).items():
        try:
            role = InputRole(role)
        except ValueError:
            raise InvalidValue(f"an input is an 'image' or a 'mask', not {role!r}") from None
        if not isinstance(data, bytes | bytearray | memoryview) or not data:
            raise InvalidValue(f"the {role} input must be non-empty bytes")
        checked[role] = bytes(data)
    return checked


class JobRepository:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._clock = clock  # injectable so retention and timing tests need no sleeping

    async def record(
        self,
        *,
        user_id: int,
        channel_id: int,
        guild_id: int | None,
        command: str,
        parameters: Mapping[str, Any],
        seeds: Sequence[int],
        parent_id: int | None = None,
        inputs: Mapping[str, bytes] | None = None,
    ) -> Job:
        """Journal an accepted job as queued, with its uploads; call before submitting it."""
        if not isinstance(command, str) or not 1 <= len(command) <= _COMMAND_LENGTH:
            raise InvalidValue(f"command must be 1 to {_COMMAND_LENGTH} characters")
        job = Job(
            user_id=snowflake(user_id, "user_id"),
            guild_id=snowflake(guild_id, "guild_id"),
            channel_id=snowflake(channel_id, "channel_id"),
            command=command,
            parameters=plain_json(parameters, "job parameters"),
            seeds=_seeds(seeds),
            status=JobStatus.QUEUED,
            attempts=0,
            created_at=self._clock(),
            parent_id=parent_id,
        )
        checked_inputs = _inputs(inputs)
        async with write_session(self._sessions) as session:
            session.add(job)
            await session.flush()  # assigns job.id for the inputs
            session.add_all(
                JobInput(job_id=job.id, role=role, data=data)
                for role, data in checked_inputs.items()
            )
        return job

    async def get(self, job_id: int) -> Job | None:
        async with read_session(self._sessions) as session:
            return await session.get(Job, job_id)

    async def inputs(self, job_id: int) -> dict[str, bytes]:
        """The stored uploads of a job by role ('image', 'mask'); empty for text-only jobs."""
        async with read_session(self._sessions) as session:
            rows = await session.execute(
                select(JobInput.role, JobInput.data).where(JobInput.job_id == job_id)
            )
            return {role.value: data for role, data in rows}

    async def start(self, job_id: int) -> Job | None:
        """Mark a queued job running and count the attempt; call when a worker takes it.

        Returns None, and changes nothing, when the job is not queued (cancelled meanwhile) or has
        already used its MAX_RUNS starts, so a third run cannot happen even by mistake.
        """
        async with write_session(self._sessions) as session:
            job = await self._locked(session, job_id)
            if job is None or job.status != JobStatus.QUEUED or job.attempts >= MAX_RUNS:
                return None
            now = self._clock()
            job.status = JobStatus.RUNNING
            job.attempts += 1
            job.started_at = now
            job.queue_seconds = (now - job.created_at).total_seconds()
            return job

    async def requeue(self, job_id: int) -> Job | None:
        """Put a running job back in the queue: a graceful stop interrupted it, not a crash.

        The interrupted run does not count against MAX_RUNS; a crash (no requeue) still does.
        """
        async with write_session(self._sessions) as session:
            job = await self._locked(session, job_id)
            if job is None or job.status != JobStatus.RUNNING:
                return None
            job.status = JobStatus.QUEUED
            job.attempts = max(0, job.attempts - 1)
            job.started_at = None
            return job

    async def finish(
        self,
        job_id: int,
        *,
        result_channel_id: int,
        result_message_id: int,
        flagged_seeds: Sequence[int] | None = None,
    ) -> Job | None:
        """Mark a running job finished with the message that holds its result, and the seeds
        of the pictures the safety check flagged (None: no check ran)."""
        async with write_session(self._sessions) as session:
            job = await self._locked(session, job_id)
            if job is None or job.status != JobStatus.RUNNING:
                return None
            job.result_channel_id = snowflake(result_channel_id, "result_channel_id")
            job.result_message_id = snowflake(result_message_id, "result_message_id")
            job.flagged_seeds = None if flagged_seeds is None else [int(s) for s in flagged_seeds]
            self._end(job, JobStatus.FINISHED)
            return job

    async def fail(self, job_id: int, error: str) -> Job | None:
        """Mark a queued or running job failed, keeping the reason the user was told."""
        async with write_session(self._sessions) as session:
            job = await self._locked(session, job_id)
            if job is None or job.status.is_terminal:
                return None
            job.error = str(error)[:ERROR_LENGTH]
            self._end(job, JobStatus.FAILED)
            return job

    async def cancel(self, job_id: int) -> Job | None:
        """Mark a queued or running job cancelled."""
        async with write_session(self._sessions) as session:
            job = await self._locked(session, job_id)
            if job is None or job.status.is_terminal:
                return None
            self._end(job, JobStatus.CANCELLED)
            return job

    async def recent(
        self, *, user_id: int | None = None, guild_id: int | None = None, limit: int = 10
    ) -> list[Job]:
        """Newest jobs first: "my recent jobs" (user_id), "this server's" (guild_id), or both."""
        if user_id is None and guild_id is None:
            raise InvalidValue("recent() needs a user_id, a guild_id or both")
        if not 1 <= limit <= 100:
            raise InvalidValue("limit must be 1 to 100")
        query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(Job.user_id == user_id)
        if guild_id is not None:
            query = query.where(Job.guild_id == guild_id)
        async with read_session(self._sessions) as session:
            return list(await session.scalars(query))

    async def delete(self, job_id: int) -> bool:
        """Delete one job and its stored inputs (the "delete" button)."""
        async with write_session(self._sessions) as session:
            result = await session.execute(delete(Job).where(Job.id == job_id))
            return result.rowcount > 0

    def _end(self, job: Job, status: JobStatus) -> None:
        now = self._clock()
        job.status = status
        job.finished_at = now
        if job.started_at is not None:
            job.run_seconds = (now - job.started_at).total_seconds()

    @staticmethod
    async def _locked(session: AsyncSession, job_id: int) -> Job | None:
        # FOR UPDATE matters on PostgreSQL; SQLite already holds its write lock (BEGIN IMMEDIATE).
        return await session.get(Job, job_id, with_for_update=True)
