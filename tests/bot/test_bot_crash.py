"""kill -9 the bot process with jobs queued and running: after a restart every job is resolved."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from storage.database import Database
from storage.models import JobStatus
from tests.bot.process_waits import bot_progress, wait_with_progress
from tests.discord_double import DiscordDouble

ROOT = Path(__file__).resolve().parents[2]
TERMINAL = (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED)


async def start_bot_process(
    double: DiscordDouble, database_url: str, log: Path, http_port=0, extra_env=None
):
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
        "LCM_HTTP_PORT": str(http_port),
        "LCM_LOG_FORMAT": "json",
        # These tests are about stops and restarts, not the time limit: on a loaded 2-core
        # machine a 256² batch of four can take minutes, and the limit would fail it.
        "LCM_JOB_TIMEOUT_S": "1800",
        **(extra_env or {}),
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
            progress = bot_progress(log, double)

            async def synced():
                return double.sync_count(double.guild) >= 1

            await wait_with_progress(synced, progress, what="the command sync")
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

            async def one_finished():
                return any(j.status is JobStatus.FINISHED for j in await _jobs(database, users))

            await wait_with_progress(one_finished, progress, what="a first finished job")
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()

        before = {job.id: job.status for job in await _jobs(database, users)}
        assert len(before) == 6
        assert JobStatus.QUEUED in before.values(), before
        assert JobStatus.FINISHED in before.values(), before

        http_port = free_port()
        second = await start_bot_process(double, database_url, log, http_port)
        try:

            async def resolved():
                jobs = await _jobs(database, users)
                return jobs if all(job.status in TERMINAL for job in jobs) else None

            jobs = await wait_with_progress(
                resolved, bot_progress(log, double), what="every job after the restart"
            )
            # The production start-up path (bot.run.serve) serves /healthz and /metrics too.
            status, text = await _get(http_port, "/healthz")
            assert status == 200, text
            _, metrics = await _get(http_port, "/metrics")
            recovered_line = f"lcm_bot_recovered_jobs {float(len(recovered_ids(before))):.1f}"
            assert recovered_line in metrics.splitlines(), metrics
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
    # JSON logs: one object per line, the recovered jobs' lines carry their ids, never the token.
    text = log.read_text()
    assert double.token not in text
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    for job in recovered:
        mine = [e for e in entries if e.get("job_id") == job.id]
        assert any(e["message"].startswith(f"job {job.id} finished") for e in mine), mine
        assert all(e["user_id"] == job.user_id for e in mine)


def recovered_ids(before: dict) -> list[int]:
    return [job_id for job_id, status in before.items() if status is not JobStatus.FINISHED]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _get(port: int, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.text()


async def _jobs(database: Database, users) -> list:
    jobs = []
    for user in users:
        jobs += await database.jobs.recent(user_id=user.id, limit=10)
    return sorted(jobs, key=lambda job: job.id)
