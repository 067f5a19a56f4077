"""Races, faults in buttons, recovery and delivery: nothing is lost, every user gets an answer."""

from __future__ import annotations

import asyncio
import time

import discord
import pytest

from generation.engine import Engine, EngineConfig
from generation.engine.fair_queue import QueueFull
from storage.models import JobStatus
from tests.bot.conftest import TINY_PIXELS, make_bot, png_bytes
from tests.discord_double import Rule
from tests.generation.engine_helpers import spec


async def private_text(record, timeout: float = 30.0) -> str:
    reply = await record.wait_for_original(lambda m: bool(m.content), timeout=timeout)
    assert reply.ephemeral
    return reply.content


async def test_concurrent_commands_of_one_user_admit_exactly_one_within_the_cooldown(harness):
    double, runner = harness.double, harness.runner
    harness.bot.settings.lcm_cooldown_s = 60
    # All dispatched before the bot has answered any: their preparations interleave.
    records = await asyncio.gather(
        *(double.invoke("imagine", {"prompt": f"race {i}"}) for i in range(12))
    )

    def answered():
        # Each command ends in a posted result or a private refusal.
        return all(
            r.followups or "Slow down" in ((r.original and r.original.content) or "")
            for r in records
        )

    await double.wait_until(answered, 60, "every command answered")
    await harness.idle()
    admitted = [r for r in records if r.followups]
    refused = [r for r in records if not r.followups]
    assert len(admitted) == 1, f"{len(admitted)} of {len(records)} admitted within the cooldown"
    for record in refused:
        assert "Slow down" in await private_text(record)
    assert len(await harness.database.jobs.recent(user_id=double.user.id)) == 1
    assert len(runner.requests) == 1


async def test_a_refused_upload_does_not_spend_the_cooldown(harness):
    double = harness.double
    harness.bot.settings.lcm_cooldown_s = 60
    bad = await double.invoke("img2img", {"prompt": "x", "image": ("bad.png", b"not a picture")})
    assert (await private_text(bad)).startswith("⚠️ image: ")
    good = await double.invoke("img2img", {"prompt": "x", "image": ("ok.png", png_bytes())})
    assert (await good.wait_for_followup(timeout=30)).attachments
    await harness.idle()
    third = await double.invoke("imagine", {"prompt": "too soon"})
    assert "Slow down" in await private_text(third)
    [job] = await harness.database.jobs.recent(user_id=double.user.id)
    assert job.status is JobStatus.FINISHED


async def imagine(harness, prompt: str = "a red kite"):
    record = await harness.double.invoke("imagine", {"prompt": prompt, "seed": 5})
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    return result, int(result.custom_ids()[0].split(":")[2])


async def test_buttons_and_the_modal_on_a_job_gone_from_the_history_are_answered(harness):
    double = harness.double
    result, job_id = await imagine(harness)
    opened = await double.click(result, f"lcm:init:{job_id}")
    await opened.wait_for_response()
    assert opened.modal is not None
    assert await harness.database.jobs.delete(job_id)  # e.g. pruned by retention meanwhile

    for action in ("reroll", "vary", "info"):
        click = await double.click(result, f"lcm:{action}:{job_id}")
        assert f"Job {job_id} is no longer in the history" in await private_text(click)
    submitted = await double.submit_modal(opened, {"prompt": "at night", "strength": "0.7"})
    assert f"Job {job_id} is no longer in the history" in await private_text(submitted)
    assert len(harness.runner.requests) == 1, "nothing new ran"


@pytest.mark.parametrize("typed", ["abc", "5", "nan", "-1", "inf"])
async def test_a_bad_strength_in_the_modal_is_answered_privately(harness, typed):
    double = harness.double
    result, job_id = await imagine(harness)
    opened = await double.click(result, f"lcm:init:{job_id}")
    await opened.wait_for_response()
    submitted = await double.submit_modal(opened, {"prompt": "at night", "strength": typed})
    text = await private_text(submitted)
    assert "Strength must be a number from 0.05 to 1" in text and repr(typed) in text
    assert len(harness.runner.requests) == 1, "nothing new ran"


async def test_a_full_queue_is_answered_on_a_button(harness):
    double, engine, runner = harness.double, harness.engine, harness.runner
    result, job_id = await imagine(harness)
    # Upscale opens a panel (no job yet); its Upscale ×2 is the button that starts one.
    panel = await (await double.click(result, f"lcm:upscale:{job_id}")).wait_for_original()
    runner.gate.clear()
    fillers = [engine.submit(spec("blocker", "GATE hold the worker", user=1))]
    full = False
    for n in range(engine.config.global_cap + 10):  # other users fill the engine to its cap
        try:
            fillers.append(engine.submit(spec(f"filler-{n}", user=100 + n // 40)))
        except QueueFull:
            full = True
            break
    assert full and engine.snapshot().queue_depth == engine.config.global_cap
    try:
        for message, custom_id in (
            (result, f"lcm:reroll:{job_id}"),
            (panel, f"lcm:up2:{job_id}:1"),
        ):
            click = await double.click(message, custom_id)
            text = await private_text(click)
            assert "the queue is full" in text, text
    finally:
        for handle in fillers:
            handle.cancel()
        runner.gate.set()
    jobs = await harness.database.jobs.recent(user_id=double.user.id)
    assert [job.id for job in jobs] == [job_id], "a refused job leaves no journal row"


async def test_a_storage_error_is_answered_alike_on_a_button_and_a_command(harness):
    double, database = harness.double, harness.database
    result, job_id = await imagine(harness)
    async with database.engine.begin() as connection:  # the history is unreadable for a moment
        await connection.exec_driver_sql("ALTER TABLE jobs RENAME TO jobs_away")
    try:
        for action in ("reroll", "info"):
            click = await double.click(result, f"lcm:{action}:{job_id}")
            text = await private_text(click)
            assert "could not be read or written (a storage error)" in text, text
        # One admission path: a slash command meets the same error handling as a button.
        command = await double.invoke("imagine", {"prompt": "a storage error"})
        text = await private_text(command)
        assert text.startswith("⚠️ /imagine failed: the job history could not be read"), text
    finally:
        async with database.engine.begin() as connection:
            await connection.exec_driver_sql("ALTER TABLE jobs_away RENAME TO jobs")
    assert double.violations == []


async def journal(harness, user, channel, prompt: str) -> int:
    """A job the previous process accepted (queued)."""
    from bot.job_parameters import journal_parameters
    from generation.modes import Mode
    from generation.modes.requests import GenerationRequest, validate_request

    engine, database = harness.engine, harness.database
    request = GenerationRequest(
        mode=Mode.TXT2IMG, prompt=prompt, width=64, height=64, steps=2, seed=len(prompt)
    )
    request = validate_request(request, engine.family, engine.styles)
    job = await database.jobs.record(
        user_id=user.id,
        channel_id=channel.id,
        guild_id=channel.guild_id,
        command="imagine",
        parameters=journal_parameters(request),
        seeds=list(request.image_seeds()),
    )
    return job.id


async def run_and_crash(database, job_ids, *, runs: int) -> None:
    """The jobs start; the process dies (``runs`` times): they are left running on that run."""
    for run in range(runs):
        if run:
            await database.recover_jobs()  # what the restart after the crash did
        for job_id in job_ids:
            await database.jobs.start(job_id)


def restarted_bot(harness, tiny_pipelines, **caps):
    """A fresh bot over the same journal, with an engine of its own (and its own caps)."""
    config = EngineConfig(batch_budget=8 * TINY_PIXELS, **caps)
    engine = Engine(
        lambda: harness.runner,
        family=tiny_pipelines.family,
        styles=tiny_pipelines.styles,
        config=config,
    )
    return engine, make_bot(harness.settings, engine, harness.database, tiny_pipelines)


async def test_recovery_resubmits_every_accepted_job_past_the_queue_caps(harness, tiny_pipelines):
    double, database = harness.double, harness.database
    await harness.bot.close()  # the previous process is gone
    other = double.add_user("other")
    double.add_member(double.guild, other)
    # One user's running job comes back queued next to their queued ones: 4 > the cap of 2,
    # and 5 jobs in all > the global cap of 3.
    ids = [await journal(harness, double.user, double.channel, "running")]
    await run_and_crash(database, ids, runs=1)
    ids += [await journal(harness, double.user, double.channel, f"queued {i}") for i in range(3)]
    ids.append(await journal(harness, other, double.channel, "someone else's"))

    engine, fresh = restarted_bot(harness, tiny_pipelines, per_user_cap=2, global_cap=3)
    async with engine, double.running(fresh):
        await fresh.jobs.wait_idle()  # recovery ran in setup_hook: every delivery has ended
    jobs = [await database.jobs.get(job_id) for job_id in ids]
    assert [(job.status, job.error) for job in jobs] == [(JobStatus.FINISHED, None)] * len(ids)
    assert fresh.recovered == len(ids)
    posted = [m for m in double.messages_in(double.channel) if m.attachments]
    assert len(posted) == len(ids)


async def test_a_channel_that_refuses_the_bot_at_recovery_does_not_stop_the_start(
    harness, tiny_pipelines
):
    double, database = harness.double, harness.database
    await harness.bot.close()
    locked = double.add_text_channel(
        double.guild, "locked", bot_permissions=discord.Permissions(view_channel=True).value
    )
    other = double.add_user("other")
    double.add_member(double.guild, other)
    # Jobs on their last run are failed at recovery and their users told: the first one's
    # channel answers 403 (Missing Permissions).
    refused = await journal(harness, other, locked, "in a locked channel")
    told = await journal(harness, double.user, double.channel, "crashed twice")
    await run_and_crash(database, [refused, told], runs=2)
    resubmitted = await journal(harness, double.user, double.channel, "still queued")

    engine, fresh = restarted_bot(harness, tiny_pipelines, per_user_cap=5, global_cap=10)
    async with engine, double.running(fresh):
        notice = await double.wait_for_message(
            double.channel, lambda m: f"Job {told}:" in (m.content or ""), timeout=30
        )
        await double.wait_for_message(double.channel, lambda m: bool(m.attachments), timeout=60)
        await fresh.jobs.wait_idle()
    assert notice.content.startswith(f"<@{double.user.id}> ❌ Job {told}: ")
    assert [v.code for v in double.take_violations(Rule.MISSING_PERMISSIONS)] == [50013]
    assert (await database.jobs.get(refused)).status is JobStatus.FAILED
    assert (await database.jobs.get(resubmitted)).status is JobStatus.FINISHED
    assert fresh.recovered == 1


async def test_a_delivery_that_fails_before_the_result_cancels_the_engine_job(harness):
    double, engine, runner, database = (
        harness.double,
        harness.engine,
        harness.runner,
        harness.database,
    )
    runner.gate.clear()
    first = await double.invoke("imagine", {"prompt": "GATE first"})
    await first.wait_for_original(lambda m: "Rendering" in (m.content or ""), timeout=30)
    # A different size: never batched with the first, so it starts only after it.
    second = await double.invoke("imagine", {"prompt": "SLOW second", "size": "96x64", "steps": 8})
    await second.wait_for_original(lambda m: "Queued" in (m.content or ""), timeout=30)
    before = dict(engine.snapshot().jobs)
    async with database.engine.begin() as connection:  # the journal cannot be written
        await connection.exec_driver_sql("ALTER TABLE jobs RENAME TO jobs_away")
    try:
        runner.gate.set()
        # The second job's start cannot be journaled: its delivery fails before any result.
        await double.wait_until(
            lambda: engine.snapshot().jobs["cancelled"] > before["cancelled"], 30, "a cancel"
        )
        await asyncio.wait_for(harness.idle(), 30)
    finally:
        async with database.engine.begin() as connection:
            await connection.exec_driver_sql("ALTER TABLE jobs_away RENAME TO jobs")
    after = engine.snapshot().jobs
    assert after["finished"] - before["finished"] == 1, "only the first job finished"
    assert after["cancelled"] - before["cancelled"] == 1
    slow_steps = [step for prompt, step, _ in runner.steps if prompt == "SLOW second"]
    assert len(slow_steps) < 8, f"stopped within a step or two, not run to the end: {slow_steps}"


async def test_a_job_submitted_ahead_in_fair_order_moves_the_others_status_at_once(harness):
    double, runner = harness.double, harness.runner
    other = double.add_user("other")
    double.add_member(double.guild, other)
    await double.push_guilds()
    runner.gate.clear()
    blocker = await double.invoke("imagine", {"prompt": "GATE blocker"})
    await blocker.wait_for_original(lambda m: "Rendering" in (m.content or ""), timeout=30)
    first = await double.invoke("imagine", {"prompt": "mine, first"})
    await first.wait_for_original(lambda m: "position 1" in (m.content or ""), timeout=30)
    second = await double.invoke("imagine", {"prompt": "mine, second"})
    await second.wait_for_original(lambda m: "position 2" in (m.content or ""), timeout=30)
    # Another user's job takes its turn before my second: that one is now third.
    theirs = await double.invoke("imagine", {"prompt": "theirs"}, user=other)
    await theirs.wait_for_original(lambda m: "position 2" in (m.content or ""), timeout=30)
    status = await second.wait_for_original(lambda m: "position 3" in (m.content or ""), timeout=5)
    assert status.content == "⏳ Queued — position 3"
    assert harness.runner.calls == [["GATE blocker"]], "no engine event moved it: the submit did"
    runner.gate.set()
    await harness.idle()


def large_upload(side: int = 4000) -> bytes:
    """A 16 MP photo-sized PNG that stays a few MiB: a gradient with a band of fine noise."""
    import io

    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 255, side, dtype=np.uint8)
    pixels = np.stack(
        [np.tile(ramp, (side, 1)), np.tile(ramp[:, None], (1, side)), np.full((side, side), 90)],
        axis=-1,
    ).astype(np.uint8)
    band = pixels[: side // 4]
    band += np.random.default_rng(0).integers(0, 2, band.shape, dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


async def test_a_large_upload_is_decoded_and_journaled_off_the_event_loop(harness):
    from bot.admission import stored_inputs
    from bot.job_parameters import build_request, builtin_defaults
    from generation.images.image_decode import decode_image
    from generation.modes import Mode
    from generation.modes.requests import validate_request

    double, bot = harness.double, harness.bot
    data = large_upload()
    # What the bot must keep off the loop for this upload, measured here on this machine:
    # decoding it, validating (resizing it to the working size) and PNG-encoding the inputs.
    started = time.perf_counter()
    image = decode_image(data, parameter="image")
    decode_s = time.perf_counter() - started
    values = {**builtin_defaults(bot.family, Mode.IMG2IMG), "prompt": "x"}
    request = build_request(
        Mode.IMG2IMG, "x", values, image=image, safety_check=False, size_from_image=True
    )
    started = time.perf_counter()
    request = validate_request(request, bot.family, bot.styles)
    stored_inputs(request)
    validate_and_encode_s = time.perf_counter() - started
    blocking_s = decode_s + validate_and_encode_s

    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker():
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - before - 0.01)

    tick = asyncio.create_task(ticker())
    record = await double.invoke("img2img", {"prompt": "x", "image": ("photo.png", data)})
    # The upload's handling ends when the job is accepted (its first status) or refused.
    await record.wait_for_original(lambda m: bool(m.content), timeout=30)
    stop.set()
    await tick
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    assert result.attachments and "⚠️" not in (record.original.content or "")

    lags.sort()
    p99 = lags[int(len(lags) * 0.99) - 1]
    figures = (
        f"event-loop lag over {len(lags)} ticks while a {len(data) / 2**20:.1f} MiB 4000×4000 "
        f"upload was handled: p99 {p99 * 1000:.1f} ms, worst {lags[-1] * 1000:.1f} ms; "
        f"the same work on the loop: decode {decode_s * 1000:.0f} ms + validate and encode "
        f"{validate_and_encode_s * 1000:.0f} ms"
    )
    print(figures)
    assert len(lags) >= 10, figures  # on the loop, the work leaves room for only a few ticks
    assert p99 < min(0.1, blocking_s / 4), figures
    # No one piece of that work ran on the loop: the worst tick is well under the smaller one.
    assert lags[-1] < min(decode_s, validate_and_encode_s) / 2, figures
