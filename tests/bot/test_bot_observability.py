"""/healthz, /metrics, structured logs and the invite link, on the real bot and the loopback double.

The figures scraped from /metrics must match what the jobs really did: the jobs the database
recorded by status, and the images Discord received.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import time

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.cli import main as cli_main
from bot.logs import TextFormatter, bind_log_context, configure_logging, reset_log_context
from storage.models import JobStatus


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def http_port() -> int:
    return free_port()


@pytest.fixture
def bot_overrides(http_port, caplog) -> dict:
    caplog.set_level(logging.INFO)  # before the bot starts: its start-up lines are checked too
    return {"lcm_http_port": http_port}


async def get(port: int, path: str) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, response.headers["Content-Type"], await response.text()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}; parsing also checks the format."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


async def test_metrics_and_healthz_match_the_jobs_that_ran(harness, http_port):
    double, database = harness.double, harness.database
    harness.runner.memory_bytes = lambda: (3_000_000, 5_000_000)  # as a CUDA runner reports it

    status, _, body = await get(http_port, "/healthz")
    assert status == 200, body
    assert json.loads(body)["engine"]["queue_depth"] == 0

    two = await double.invoke("imagine", {"prompt": "two red kites", "count": 2, "seed": 5})
    one = await double.invoke("imagine", {"prompt": "one blue kite", "seed": 9})
    bad = await double.invoke("imagine", {"prompt": "FAIL on purpose"})
    posted = [await two.wait_for_followup(timeout=30), await one.wait_for_followup(timeout=30)]
    failed = await bad.wait_for_original(lambda m: "failed" in (m.content or ""), timeout=30)
    await harness.idle()
    assert "injected failure" in failed.content

    # The truth: what the journal recorded and what Discord received.
    jobs = await database.jobs.recent(user_id=double.user.id, limit=10)
    by_status = {s: sum(job.status is s for job in jobs) for s in JobStatus}
    assert by_status[JobStatus.FINISHED] == 2 and by_status[JobStatus.FAILED] == 1
    images_posted = sum(len(message.attachments) for message in posted)
    assert images_posted == 3

    status, content_type, text = await get(http_port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    figures = samples(text)

    def completed(status: str) -> float:
        return figures[("lcm_jobs_completed_total", (("status", status),))]

    # Submissions and outcomes are two counters: the outcomes add up to what was submitted.
    assert figures[("lcm_jobs_submitted_total", ())] == len(jobs) == 3
    assert completed("finished") == by_status[JobStatus.FINISHED]
    assert completed("failed") == by_status[JobStatus.FAILED]
    assert completed("cancelled") == by_status[JobStatus.CANCELLED] == 0
    assert sum(completed(status) for status in ("finished", "failed", "cancelled")) == 3
    assert not any(name == "lcm_jobs_total" for name, _ in figures)
    assert figures[("lcm_images_total", ())] == images_posted
    assert figures[("lcm_queue_depth", ())] == 0
    assert figures[("lcm_jobs_running", ())] == 0
    # Latency histograms: one wait per started job, one run per job that ended after starting.
    assert figures[("lcm_job_wait_seconds_count", ())] == 3
    assert figures[("lcm_job_run_seconds_count", ())] == 3
    assert figures[("lcm_job_run_seconds_bucket", (("le", "+Inf"),))] == 3
    # No exported rates: rate(lcm_images_total[5m]) is PromQL's, images_per_s stays in /healthz.
    assert not any("per_second" in name or "rate" in name.split("_") for name, _ in figures)
    assert figures[("lcm_gpu_memory_bytes", (("kind", "allocated"),))] == 3_000_000
    assert figures[("lcm_gpu_memory_bytes", (("kind", "peak"),))] == 5_000_000
    # The bot's own figures.
    assert figures[("lcm_bot_commands_total", (("command", "imagine"),))] == 3
    assert figures[("lcm_bot_discord_connected", ())] == 1
    assert figures[("lcm_bot_engine_running", ())] == 1
    assert figures[("lcm_bot_deliveries_in_flight", ())] == 0
    assert figures[("lcm_bot_guilds", ())] == len(double.guilds)
    # A start time, not an uptime: it stands still between scrapes; the process's own is there too.
    started = figures[("lcm_bot_start_time_seconds", ())]
    assert 0 <= time.time() - started < 600
    assert figures[("process_start_time_seconds", ())] <= started
    assert figures[("process_resident_memory_bytes", ())] > 0
    assert figures[("process_cpu_seconds_total", ())] > 0
    assert not any("uptime" in name for name, _ in figures)
    await asyncio.sleep(0.05)
    _, _, again = await get(http_port, "/metrics")
    assert samples(again)[("lcm_bot_start_time_seconds", ())] == started

    status, _, body = await get(http_port, "/healthz")
    report = json.loads(body)
    assert status == 200 and report["ok"] and report["problems"] == []
    assert report["discord"]["connected"] is True
    assert report["engine"]["state"] == "running"
    assert report["engine"]["queue_depth"] == 0 and report["deliveries_in_flight"] == 0
    assert report["engine"]["jobs"] == {
        "submitted": 3,
        "finished": 2,
        "failed": 1,
        "cancelled": 0,
    }
    assert double.violations == []


async def test_healthz_is_503_while_the_gateway_is_down_or_the_engine_is_stopped(
    harness, http_port
):
    bot, double = harness.bot, harness.double
    url = f"http://127.0.0.1:{http_port}/healthz"
    assert await asyncio.to_thread(cli_main, ["health", "--url", url]) == 0

    # discord.py's own disconnect event, as a network drop raises it.
    bot.dispatch("disconnect")
    await double.wait_until(lambda: not bot.gateway_connected, 5, "the disconnect event")
    status, _, body = await get(http_port, "/healthz")
    assert status == 503, body
    assert json.loads(body)["problems"] == ["the Discord gateway is not connected"]
    assert await asyncio.to_thread(cli_main, ["health", "--url", url]) == 1

    # A real drop: discord.py resumes the session and /healthz is fine again.
    await double.drop_gateway()
    await double.wait_until(lambda: bot.gateway_connected, 10, "the gateway to resume")
    status, _, _ = await get(http_port, "/healthz")
    assert status == 200

    await harness.engine.stop()
    status, _, body = await get(http_port, "/healthz")
    assert status == 503
    assert json.loads(body)["problems"] == ["the GPU engine is stopped, not running"]
    _, _, text = await get(http_port, "/metrics")
    assert samples(text)[("lcm_bot_engine_running", ())] == 0


async def test_the_invite_link_and_the_endpoint_are_logged_at_start(harness, http_port, caplog):
    started = "\n".join(record.getMessage() for record in caplog.get_records("setup"))
    application = harness.double.application_id
    assert f"client_id={application}" in started
    assert "scope=bot+applications.commands" in started
    assert f"http://127.0.0.1:{http_port}/metrics" in started


async def test_json_logs_carry_job_and_user_ids_and_never_the_token(harness):
    double = harness.double
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("json", "INFO", secrets=[double.token], stream=stream)
    try:
        good = await double.invoke("imagine", {"prompt": "a quiet harbour"})
        bad = await double.invoke("imagine", {"prompt": "FAIL loudly"})
        await good.wait_for_followup(timeout=30)
        await bad.wait_for_original(lambda m: "failed" in (m.content or ""), timeout=30)
        await harness.idle()
        logging.getLogger("test").warning("token check: %s", double.token)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    text = stream.getvalue()
    entries = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert double.token not in text
    assert entries[-1]["message"] == "token check: [redacted]"

    jobs = sorted(job.id for job in await harness.database.jobs.recent(user_id=double.user.id))
    assert len(jobs) == 2
    for job_id in jobs:
        lines = [e for e in entries if e.get("job_id") == job_id]
        words = " ".join(e["message"] for e in lines)
        assert f"job {job_id} accepted" in words and f"job {job_id} started" in words
        assert all(e["user_id"] == double.user.id for e in lines), lines
        assert all(e["guild_id"] == double.guild.id for e in lines), lines
        # One command= per job, on every line: the slash command's name, not the mode's.
        assert {e["command"] for e in lines} == {"imagine"}, lines
    good_id, bad_id = jobs
    assert any(e["message"].startswith(f"job {good_id} finished") for e in entries)
    [failure] = [e for e in entries if e["message"].startswith(f"job {bad_id} failed")]
    assert failure["level"] == "WARNING" and "injected failure" in failure["message"]


def test_text_logs_show_the_ids_of_the_task_that_logged():
    record = logging.LogRecord("bot.jobs", logging.INFO, __file__, 1, "job %s done", (7,), None)
    token = bind_log_context(job_id=7, user_id=42)
    try:
        from bot.logs import ContextFilter

        ContextFilter().filter(record)
    finally:
        reset_log_context(token)
    line = TextFormatter(secrets=["s3cret-token-value"]).format(record)
    assert line.endswith("INFO bot.jobs: job 7 done [job=7 user=42]")
