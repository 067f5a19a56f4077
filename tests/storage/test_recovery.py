"""Start-up recovery on SQLite and PostgreSQL: each unfinished job is resubmitted or failed."""

from __future__ import annotations

from storage.database import Database
from storage.models import JobStatus
from storage.recovery import REASON_FAILED, REASON_QUEUED, REASON_RERUN, Outcome

ALICE = 1_100_000_000_000_000_001
CHANNEL = 800_000_000_000_000_001


async def record(db: Database, **inputs: bytes):
    return await db.jobs.record(
        user_id=ALICE,
        channel_id=CHANNEL,
        guild_id=None,
        command="img2img" if inputs else "imagine",
        parameters={"prompt": "a lighthouse"},
        seeds=[3],
        inputs=inputs,
    )


async def test_nothing_to_recover_on_a_clean_start(db: Database):
    done = await record(db)
    await db.jobs.start(done.id)
    await db.jobs.finish(done.id, result_channel_id=CHANNEL, result_message_id=1)

    report = await db.recover_jobs()

    assert report.jobs == () and report.to_submit == () and report.failed == ()


async def test_a_queued_job_comes_back_as_it_was_with_its_uploads(db: Database):
    job = await record(db, image=b"init image", mask=b"mask")

    report = await db.recover_jobs()

    (item,) = report.to_submit
    assert (item.job.id, item.outcome, item.reason) == (job.id, Outcome.RESUBMIT, REASON_QUEUED)
    assert item.inputs == {"image": b"init image", "mask": b"mask"}
    assert item.job.parameters == {"prompt": "a lighthouse"}
    stored = await db.jobs.get(job.id)
    assert (stored.status, stored.attempts) == (JobStatus.QUEUED, 0)


async def test_a_job_running_on_its_first_run_is_run_once_more(db: Database):
    job = await record(db, image=b"init image")
    await db.jobs.start(job.id)  # ... and the process dies here

    report = await db.recover_jobs()

    (item,) = report.to_submit
    assert (item.outcome, item.reason, item.inputs) == (
        Outcome.RERUN,
        REASON_RERUN,
        {"image": b"init image"},
    )
    assert (await db.jobs.get(job.id)).status is JobStatus.QUEUED
    rerun = await db.jobs.start(job.id)
    assert (rerun.status, rerun.attempts) == (JobStatus.RUNNING, 2)


async def test_a_job_that_crashed_the_process_twice_is_failed_not_run_again(db: Database):
    job = await record(db, image=b"poison")
    await db.jobs.start(job.id)  # first crash while running
    first = await db.recover_jobs()
    assert [item.outcome for item in first.jobs] == [Outcome.RERUN]
    await db.jobs.start(job.id)  # second crash while running

    second = await db.recover_jobs()

    assert second.to_submit == ()
    (item,) = second.failed
    assert (item.job.id, item.outcome, item.reason, item.inputs) == (
        job.id,
        Outcome.FAILED,
        REASON_FAILED,
        {},
    )
    stored = await db.jobs.get(job.id)
    assert (stored.status, stored.attempts, stored.error) == (JobStatus.FAILED, 2, REASON_FAILED)
    assert stored.finished_at is not None
    assert await db.jobs.start(job.id) is None  # no third run, even if asked
    third = await db.recover_jobs()
    assert third.jobs == ()  # failed is final: it is not reported again on the next start


async def test_a_restart_before_the_rerun_starts_keeps_the_job_on_its_last_run(db: Database):
    job = await record(db)
    await db.jobs.start(job.id)
    await db.recover_jobs()  # requeued for its second run, then the bot dies before starting it

    report = await db.recover_jobs()

    assert [(item.outcome, item.reason) for item in report.jobs] == [
        (Outcome.RESUBMIT, REASON_QUEUED)
    ]
    assert (await db.jobs.start(job.id)).attempts == 2


async def test_every_case_at_once_oldest_first_and_finished_jobs_untouched(db: Database):
    queued = await record(db)
    first_run = await record(db)
    second_run = await record(db)
    finished, failed, cancelled = await record(db), await record(db), await record(db)
    for job in (first_run, second_run):
        await db.jobs.start(job.id)
    await db.recover_jobs()  # puts first_run and second_run back in the queue ...
    await db.jobs.start(second_run.id)  # ... and second_run dies on its second run
    await db.jobs.start(finished.id)
    await db.jobs.finish(finished.id, result_channel_id=CHANNEL, result_message_id=5)
    await db.jobs.fail(failed.id, "bad input")
    await db.jobs.cancel(cancelled.id)

    report = await db.recover_jobs()

    assert [(item.job.id, item.outcome) for item in report.jobs] == [
        (queued.id, Outcome.RESUBMIT),
        (first_run.id, Outcome.RESUBMIT),
        (second_run.id, Outcome.FAILED),
    ]
    assert all(item.reason for item in report.jobs)
    for job, status in [
        (finished, JobStatus.FINISHED),
        (failed, JobStatus.FAILED),
        (cancelled, JobStatus.CANCELLED),
    ]:
        assert (await db.jobs.get(job.id)).status is status
    assert (await db.jobs.get(failed.id)).error == "bad input"
