"""Retention: delete finished history (and its stored uploads) older than a number of days."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.engine import write_session
from storage.errors import InvalidValue
from storage.models import Job, JobStatus, utcnow

log = logging.getLogger(__name__)

# Rows per transaction: small enough that the bot's own writes never wait long behind a prune.
PRUNE_BATCH = 500

_TERMINAL = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED)


async def prune_history(
    sessions: async_sessionmaker[AsyncSession],
    older_than_days: float,
    *,
    now: datetime | None = None,
    batch_size: int = PRUNE_BATCH,
) -> int:
    """Delete finished, failed and cancelled jobs created before the cutoff; return how many.

    Queued and running jobs are never pruned, whatever their age: recovery still owes them an
    answer. Deletes go in batches, each its own short transaction, so a first prune of a big history
    does not hold SQLite's write lock for seconds.
    """
    if older_than_days < 0:
        raise InvalidValue("older_than_days must be 0 or more")
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    deleted = 0
    while True:
        async with write_session(sessions) as session:
            batch = (
                select(Job.id)
                .where(Job.created_at < cutoff, Job.status.in_(_TERMINAL))
                .order_by(Job.id)
                .limit(batch_size)
            )
            result = await session.execute(delete(Job).where(Job.id.in_(batch.scalar_subquery())))
        deleted += result.rowcount
        if result.rowcount < batch_size:
            break
    log.info("pruned %d jobs created before %s", deleted, cutoff.isoformat())
    return deleted
