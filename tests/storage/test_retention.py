"""Retention on SQLite and PostgreSQL: old finished history goes; unfinished and recent stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.database import Database
from storage.errors import InvalidValue
from storage.repositories import JobRepository
from storage.retention import prune_history

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CHANNEL = 800_000_000_000_000_001


async def jobs_at(db: Database, days_ago: float, count: int = 1, **inputs: bytes) -> list[int]:
    jobs = JobRepository(db.sessions, clock=lambda: NOW - timedelta(days=days_ago))
    made = []
    for n in range(count):
        job = await jobs.record(
            user_id=1, channel_id=CHANNEL, guild_id=None, command="imagine", parameters={},
            seeds=[n], inputs=inputs,
        )  # fmt: skip
        made.append(job.id)
    return made


async def finish(db: Database, job_ids: list[int]) -> None:
    for job_id in job_ids:
        await db.jobs.start(job_id)
        await db.jobs.finish(job_id, result_channel_id=CHANNEL, result_message_id=job_id)


async def test_prune_deletes_old_finished_failed_and_cancelled_jobs_only(db: Database):
    old_finished = await jobs_at(db, 40, count=7, image=b"init")
    await finish(db, old_finished)
    old_failed, old_cancelled, old_queued, old_running = await jobs_at(db, 40, 4)
    await db.jobs.fail(old_failed, "boom")
    await db.jobs.cancel(old_cancelled)
    await db.jobs.start(old_running)
    recent = await jobs_at(db, 29, count=3)
    await finish(db, recent)

    deleted = await prune_history(db.sessions, 30, now=NOW, batch_size=3)

    assert deleted == 9
    for job_id in [*old_finished, old_failed, old_cancelled]:
        assert await db.jobs.get(job_id) is None
        assert await db.jobs.inputs(job_id) == {}
    for job_id in [old_queued, old_running, *recent]:
        assert await db.jobs.get(job_id) is not None, "unfinished or recent jobs must stay"
    assert await prune_history(db.sessions, 30, now=NOW) == 0


async def test_prune_zero_days_clears_all_finished_history(db: Database):
    finished = await jobs_at(db, 0.001, count=2)
    await finish(db, finished)
    assert await prune_history(db.sessions, 0, now=NOW) == 2


async def test_prune_refuses_a_negative_age(db: Database):
    with pytest.raises(InvalidValue):
        await prune_history(db.sessions, -1)
