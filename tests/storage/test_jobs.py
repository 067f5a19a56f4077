"""JobRepository on SQLite and PostgreSQL: the journal's state changes and the history queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.database import Database
from storage.engine import write_session
from storage.errors import InvalidValue
from storage.models import Job, JobStatus
from storage.repositories import MAX_RUNS, JobRepository

ALICE = 1_100_000_000_000_000_001
BOB = 1_100_000_000_000_000_002
GUILD = 900_000_000_000_000_001
OTHER_GUILD = 900_000_000_000_000_002
CHANNEL = 800_000_000_000_000_001
MESSAGE = 700_000_000_000_000_001

# Text users paste into prompts: it must come back exactly, byte for byte.
HOSTILE_PROMPT = (
    "@everyone <@&123> `code` ```block``` \u202eevil\u202c zero\u200bwidth e\u0301 "
    "🐱‍👤 \U0001f3f3\ufe0f\u200d\U0001f308 ﷽ \u0000nul \\ \" ' ; DROP TABLE jobs; -- 日本語"
)


class Clock:
    """A hand-moved clock, so timings are exact instead of slept for."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def record(db: Database, user_id: int = ALICE, guild_id: int | None = GUILD, **extra):
    return await db.jobs.record(
        user_id=user_id,
        channel_id=CHANNEL,
        guild_id=guild_id,
        command=extra.pop("command", "imagine"),
        parameters=extra.pop("parameters", {"prompt": "a cat"}),
        seeds=extra.pop("seeds", [1]),
        **extra,
    )


async def test_a_recorded_job_reads_back_exactly(db: Database):
    parameters = {
        "prompt": HOSTILE_PROMPT,
        "steps": 4,
        "guidance": 1.5,
        "size": [768, 512],
        "styles": [{"name": "ink", "weight": 0.8}],
        "negative": None,
    }
    job = await record(db, command="img2img", parameters=parameters, seeds=[0, 2**32 - 1])

    stored = await db.jobs.get(job.id)
    assert stored.parameters == parameters
    assert stored.parameters["prompt"] == HOSTILE_PROMPT
    assert stored.seeds == [0, 2**32 - 1]
    assert (stored.user_id, stored.guild_id, stored.channel_id) == (ALICE, GUILD, CHANNEL)
    assert (stored.status, stored.attempts, stored.command) == (JobStatus.QUEUED, 0, "img2img")
    assert stored.created_at.tzinfo is UTC
    assert (stored.started_at, stored.finished_at, stored.error, stored.parent_id) == (None,) * 4
    assert await db.jobs.get(job.id + 1000) is None


async def test_ids_stay_short_enough_for_a_button_custom_id(db: Database):
    job = await record(db)
    assert len(f"lcm:reroll:{job.id}") <= 100
    assert isinstance(job.id, int) and job.id > 0


async def test_uploads_are_stored_with_the_job_for_a_restart(db: Database):
    image, mask = bytes(range(256)) * 400, b"\x89PNG mask"
    job = await record(db, command="inpaint", inputs={"image": image, "mask": mask})
    plain = await record(db)

    assert await db.jobs.inputs(job.id) == {"image": image, "mask": mask}
    assert await db.jobs.inputs(plain.id) == {}
    with pytest.raises(InvalidValue, match="'image' or a 'mask'"):
        await record(db, inputs={"init": image})
    with pytest.raises(InvalidValue, match="non-empty bytes"):
        await record(db, inputs={"image": b""})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("parameters", {"image": b"bytes"}, "plain JSON"),
        ("seeds", [1, -1], "seeds"),
        ("seeds", "123", "seeds"),
        ("command", "", "command"),
        ("user_id", -5, "user_id must be a Discord id"),
        ("user_id", 2**64, "user_id must be a Discord id"),
        ("guild_id", "123", "guild_id must be a Discord id"),
    ],
)
async def test_record_refuses_values_that_would_not_round_trip(db: Database, field, value, message):
    arguments = {
        "user_id": ALICE,
        "channel_id": CHANNEL,
        "guild_id": GUILD,
        "command": "imagine",
        "parameters": {},
        "seeds": [1],
    } | {field: value}
    with pytest.raises(InvalidValue, match=message):
        await db.jobs.record(**arguments)
    assert await db.jobs.recent(user_id=ALICE) == []


async def test_a_job_goes_queued_running_finished_with_timings(db: Database):
    clock = Clock()
    jobs = JobRepository(db.sessions, clock=clock)
    job = await jobs.record(
        user_id=ALICE,
        channel_id=CHANNEL,
        guild_id=None,
        command="imagine",
        parameters={},
        seeds=[7],
    )
    clock.advance(2.5)

    started = await jobs.start(job.id)
    assert (started.status, started.attempts, started.queue_seconds) == (JobStatus.RUNNING, 1, 2.5)
    assert await jobs.start(job.id) is None  # already running: a second worker must not take it
    clock.advance(0.75)

    finished = await jobs.finish(job.id, result_channel_id=CHANNEL, result_message_id=MESSAGE)
    assert finished.status is JobStatus.FINISHED
    assert (finished.run_seconds, finished.result_message_id) == (0.75, MESSAGE)
    stored = await jobs.get(job.id)
    assert stored.finished_at == clock.now and stored.started_at == clock.now - timedelta(
        seconds=0.75
    )
    assert (stored.result_channel_id, stored.result_message_id) == (CHANNEL, MESSAGE)
    # Terminal means terminal.
    assert await jobs.fail(job.id, "late") is None
    assert await jobs.cancel(job.id) is None
    assert await jobs.start(job.id) is None
    assert (await jobs.get(job.id)).status is JobStatus.FINISHED


async def test_only_running_jobs_finish(db: Database):
    job = await record(db)
    assert await db.jobs.finish(job.id, result_channel_id=1, result_message_id=2) is None
    assert await db.jobs.finish(999_999, result_channel_id=1, result_message_id=2) is None


@pytest.mark.parametrize("start_first", [False, True])
async def test_queued_or_running_jobs_can_fail_or_be_cancelled(db: Database, start_first: bool):
    failing, cancelled = await record(db), await record(db)
    if start_first:
        await db.jobs.start(failing.id)
        await db.jobs.start(cancelled.id)

    failed = await db.jobs.fail(failing.id, "CUDA out of memory " + "x" * 5000)
    assert failed.status is JobStatus.FAILED and failed.error.startswith("CUDA out of memory")
    assert len(failed.error) == 2000
    assert (await db.jobs.cancel(cancelled.id)).status is JobStatus.CANCELLED
    assert (await db.jobs.get(cancelled.id)).finished_at is not None


async def test_a_job_is_started_at_most_max_runs_times(db: Database):
    job = await record(db)
    assert (await db.jobs.start(job.id)).attempts == 1
    await _requeue(db, job.id)  # what recovery does to a job that was running
    assert (await db.jobs.start(job.id)).attempts == MAX_RUNS == 2
    await _requeue(db, job.id)
    assert await db.jobs.start(job.id) is None
    assert (await db.jobs.get(job.id)).attempts == 2


async def _requeue(db: Database, job_id: int) -> None:
    async with write_session(db.sessions) as session:
        (await session.get(Job, job_id)).status = JobStatus.QUEUED


async def test_recent_is_newest_first_for_a_user_or_a_server(db: Database):
    clock = Clock()
    jobs = JobRepository(db.sessions, clock=clock)
    made = []
    for user_id, guild_id in [
        (ALICE, GUILD),
        (BOB, GUILD),
        (ALICE, None),
        (ALICE, OTHER_GUILD),
        (ALICE, GUILD),
        (BOB, OTHER_GUILD),
    ]:
        clock.advance(1)
        made.append(
            await jobs.record(
                user_id=user_id,
                channel_id=CHANNEL,
                guild_id=guild_id,
                command="imagine",
                parameters={},
                seeds=[len(made)],
            )
        )
    ids = [job.id for job in made]

    assert [job.id for job in await jobs.recent(user_id=ALICE)] == [ids[4], ids[3], ids[2], ids[0]]
    assert [job.id for job in await jobs.recent(guild_id=GUILD)] == [ids[4], ids[1], ids[0]]
    assert [job.id for job in await jobs.recent(user_id=ALICE, guild_id=GUILD)] == [ids[4], ids[0]]
    assert [job.id for job in await jobs.recent(user_id=ALICE, limit=2)] == [ids[4], ids[3]]
    with pytest.raises(InvalidValue):
        await jobs.recent()
    with pytest.raises(InvalidValue):
        await jobs.recent(user_id=ALICE, limit=0)


async def test_deleting_a_job_takes_its_uploads_and_unlinks_its_rerolls(db: Database):
    parent = await record(db, inputs={"image": b"init"})
    child = await record(db, parent_id=parent.id)

    assert await db.jobs.delete(parent.id) is True
    assert await db.jobs.delete(parent.id) is False

    assert await db.jobs.get(parent.id) is None
    assert await db.jobs.inputs(parent.id) == {}  # ON DELETE CASCADE
    assert (await db.jobs.get(child.id)).parent_id is None  # ON DELETE SET NULL


async def test_a_deleted_newest_id_is_never_handed_out_again(db: Database):
    """Old result messages keep buttons with job ids; a reused id would re-roll another job."""
    first = await record(db)
    newest = await record(db)
    await db.jobs.delete(newest.id)

    after = await record(db)

    assert after.id > newest.id > first.id


async def test_a_graceful_stop_hands_a_running_job_back_without_spending_a_run(db: Database):
    job = await record(db)
    await db.jobs.start(job.id)
    requeued = await db.jobs.requeue(job.id)
    assert (requeued.status, requeued.attempts, requeued.started_at) == (JobStatus.QUEUED, 0, None)
    for _ in range(MAX_RUNS):  # the interrupted run does not count: both runs are still there
        assert await db.jobs.start(job.id) is not None
        await _requeue(db, job.id)
    assert await db.jobs.requeue(job.id) is None, "only a running job is handed back"
