"""Start-up recovery: every job the last process left queued or running is resubmitted or failed."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.engine import write_session
from storage.models import Job, JobInput, JobStatus, utcnow
from storage.repositories.jobs import ERROR_LENGTH, MAX_RUNS

log = logging.getLogger(__name__)

# What the bot tells the user, one per outcome.
REASON_QUEUED = "The bot restarted before your job started; it is back in the queue."
REASON_RERUN = "The bot restarted while your job was running; it is being run once more."
REASON_FAILED = (
    "Your job was running when the bot stopped, twice, so it was not run a third time; "
    "try different settings or a different image."
)


class Outcome(enum.StrEnum):
    RESUBMIT = "resubmit"  # was queued: submit it again as it was
    RERUN = "rerun"  # was running once: submit it again for its last run
    FAILED = "failed"  # was running on its last run: failed, the user is told why


@dataclass(frozen=True)
class RecoveredJob:
    job: Job
    outcome: Outcome
    reason: str
    # The stored uploads by role ('image', 'mask'), ready for resubmission; empty for failed jobs.
    inputs: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class RecoveryReport:
    jobs: tuple[RecoveredJob, ...]

    @property
    def to_submit(self) -> tuple[RecoveredJob, ...]:
        """Jobs to hand to the engine again, oldest first (status queued in the journal)."""
        return tuple(job for job in self.jobs if job.outcome is not Outcome.FAILED)

    @property
    def failed(self) -> tuple[RecoveredJob, ...]:
        return tuple(job for job in self.jobs if job.outcome is Outcome.FAILED)


async def recover_jobs(sessions: async_sessionmaker[AsyncSession]) -> RecoveryReport:
    """Resolve what a crash or restart left behind; run once at start-up, before serving.

    Queued jobs come back as they are. A job that was running comes back queued if it has a run
    left (`JobRepository.start` will count it as attempt 2); one already on its last run is failed.
    Delivery is therefore at-least-once for a job that crashed mid-run, and never more than twice.
    """
    async with write_session(sessions) as session:
        jobs = list(
            await session.scalars(
                select(Job)
                .where(Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
                .order_by(Job.id)
            )
        )
        recovered = []
        for job in jobs:
            if job.status == JobStatus.QUEUED:
                outcome, reason = Outcome.RESUBMIT, REASON_QUEUED
            elif job.attempts < MAX_RUNS:
                outcome, reason = Outcome.RERUN, REASON_RERUN
                job.status = JobStatus.QUEUED
            else:
                outcome, reason = Outcome.FAILED, REASON_FAILED
                job.status = JobStatus.FAILED
                job.error = reason[:ERROR_LENGTH]
                job.finished_at = utcnow()
            recovered.append((job, outcome, reason))

        inputs = await _inputs_of(
            session, [job.id for job, outcome, _ in recovered if outcome is not Outcome.FAILED]
        )
    report = RecoveryReport(
        tuple(
            RecoveredJob(job, outcome, reason, inputs.get(job.id, {}))
            for job, outcome, reason in recovered
        )
    )
    for item in report.jobs:
        log.info(
            "recovered job %s of user %s: %s (attempts %s)",
            item.job.id,
            item.job.user_id,
            item.outcome.value,
            item.job.attempts,
        )
    return report


async def _inputs_of(session: AsyncSession, job_ids: list[int]) -> dict[int, dict[str, bytes]]:
    found: dict[int, dict[str, bytes]] = {}
    if job_ids:
        rows = await session.execute(
            select(JobInput.job_id, JobInput.role, JobInput.data).where(
                JobInput.job_id.in_(job_ids)
            )
        )
        for job_id, role, data in rows:
            found.setdefault(job_id, {})[role.value] = data
    return found
