"""kill -9 the bot process with jobs queued and running: after a restart every job is resolved."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from storage.database import Database
from storage.models import JobStatus
from tests.discord_double import DiscordDouble

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED)


async def start_bot_process(double: DiscordDouble, database_url: str, log: Path):
    env = {
        **os.environ,
        "LCM_TEST_API": f"{double.url}/api/v10",
        "LCM_TEST_GATEWAY": str(double.gateway_url),
        "DISCORD_TOKEN": double.token,
        "DISCORD_GUILD_IDS": str(double.guild.id),
        "LCM_MODEL": "tiny",
        "LCM_DEVICE": "cpu",
        "DATABASE_URL": database_url,
        "LCM_COOLDOWN_S": "0",
        "LCM_QUEUE_PER_USER": "20",
        "LCM_BATCH_IMAGES": "1",  # one job per GPU call, so a kill finds some still queued
    }
    handle = log.open("ab")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bot.bot_process",
        env=env,
        cwd=ROOT,
        stdout=handle,
        stderr=handle,
    )
    return process


@pytest.mark.slow
async def test_kill_9_with_jobs_queued_and_running_resolves_every_job(tmp_path, database_url):
    log = tmp_path / "bot.log"
    database = Database.open(database_url)
    async with DiscordDouble() as double:
        users = [double.add_user(f"painter{i}") for i in range(6)]
        for user in users:
            double.add_member(double.guild, user)
        first = await start_bot_process(double, database_url, log)
        try:
            await double.wait_until(lambda: double.sync_count(double.guild) >= 1, 90, "sync")
            await double.wait_until_connected()
            records = [
                await double.invoke(
                    "imagine",
                    {"prompt": f"harbour {i}", "size": "256x256", "steps": 8, "count": 4},
                    user=user,
                )
                for i, user in enumerate(users)
            ]
            assert len(records) == 6
            deadline = asyncio.get_running_loop().time() + 90
            while not any(j.status is JobStatus.FINISHED for j in await _jobs(database, users)):
                assert asyncio.get_running_loop().time() < deadline, log.read_text()[-3000:]
                await asyncio.sleep(0.05)
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()

        before = {job.id: job.status for job in await _jobs(database, users)}
        assert len(before) == 6
        assert JobStatus.QUEUED in before.values(), before
        assert JobStatus.FINISHED in before.values(), before

        second = await start_bot_process(double, database_url, log)
        try:

            async def resolved():
                jobs = await _jobs(database, users)
                return jobs if all(job.status in TERMINAL for job in jobs) else None

            deadline = asyncio.get_running_loop().time() + 120
            jobs = None
            while jobs is None:
                assert asyncio.get_running_loop().time() < deadline, log.read_text()[-3000:]
                jobs = await resolved()
                await asyncio.sleep(0.2)
        finally:
            second.send_signal(signal.SIGTERM)
            await second.wait()
    await database.close()
    for job in jobs:
        assert job.attempts <= 2, "no job runs a third time"
        told = [
            m
            for m in double.messages.values()
            if not m.deleted and f"<@{job.user_id}>" in (m.content or "")
        ]
        if job.status is JobStatus.FINISHED:
            message = double.messages[job.result_message_id]
            assert message.attachments and not message.deleted
        else:
            assert told, f"job {job.id} ({job.status}) was resolved without telling its user"
    recovered = [job for job in jobs if before[job.id] is not JobStatus.FINISHED]
    assert recovered, "some jobs were only finished after the restart"
    assert all(job.status is JobStatus.FINISHED for job in recovered)


async def _jobs(database: Database, users) -> list:
    jobs = []
    for user in users:
        jobs += await database.jobs.recent(user_id=user.id, limit=10)
    return sorted(jobs, key=lambda job: job.id)
