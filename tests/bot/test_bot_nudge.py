"""Nudge in place and the canny loop, end to end: clicks edit one message, quick clicks coalesce."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from storage.models import JobStatus
from tests.discord_double import Limits
from tests.discord_double.limits import Rule, walk_components


def _labels(message) -> dict[str, str]:
    """custom_id → label of every button: what a screen reader says."""
    return {
        c["custom_id"]: c.get("label", "")
        for c in walk_components(message.components)
        if c.get("type") == 2
    }


def _picture(attachment) -> np.ndarray:
    with Image.open(io.BytesIO(attachment.data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


async def _journal(harness) -> list:
    jobs = await harness.database.jobs.recent(user_id=harness.double.user.id, limit=50)
    return sorted(jobs, key=lambda j: j.id)


async def test_five_quick_nudges_edit_one_message_with_at_most_two_renders(harness):
    double, runner, engine = harness.double, harness.runner, harness.engine
    renders = harness.bot.get_cog("NudgeCog").renders
    runner.gate.set()
    record = await double.invoke("imagine", {"prompt": "a GATE lighthouse", "seed": 5})
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    origin = int(result.custom_ids()[0].split(":")[2])
    opened = await double.click(result, f"lcm:nudge:{origin}")
    panel = await opened.wait_for_followup(timeout=30)
    assert panel.ephemeral, "the panel is the clicker's alone until Keep"
    labels = _labels(panel)
    assert labels[f"lcm:tweak:seed-up:{origin}"] == "Seed plus"
    assert labels[f"lcm:tweak:guidance-down:{origin}"] == "Guidance minus"
    assert f"lcm:tweak:strength-up:{origin}" not in labels, "txt2img has no strength"
    messages_before = len(double.messages_in(double.channel))

    # The first click's render holds in the GATE; four more clicks come while it runs.
    runner.gate.clear()
    before, calls_before = engine.snapshot(), len(runner.calls)
    clicks = [await double.click(panel, f"lcm:tweak:seed-up:{origin}")]
    await double.wait_until(lambda: len(runner.calls) > calls_before or None, 30, "render 1")
    for _ in range(4):
        clicks.append(await double.click(panel, f"lcm:tweak:seed-up:{origin}"))
    await double.wait_until(
        lambda: engine.snapshot().superseded - before.superseded == 3 or None,
        30,
        "clicks 2 to 4 replaced by the newest while waiting",
    )
    runner.gate.set()
    await renders.wait_idle()

    after = engine.snapshot()
    assert after.jobs["finished"] - before.jobs["finished"] == 2, "five clicks, two renders"
    assert [call for call in runner.calls[calls_before:]] == [["a GATE lighthouse"]] * 2
    assert [(await c.wait_for_response()).type for c in clicks] == [6] * 5  # update, no reply
    assert all(c.followups == [] for c in clicks)
    assert len(double.messages_in(double.channel)) == messages_before, "no new message"
    nudges = [job for job in await _journal(harness) if job.command == "button:seed-up"]
    assert [job.seeds[0] for job in nudges] == [6, 7, 8, 9, 10], "the clicks add up"
    assert [job.status for job in nudges] == [JobStatus.FINISHED] + [JobStatus.CANCELLED] * 3 + [
        JobStatus.FINISHED
    ]
    assert [job.parent_id for job in nudges] == [origin] + [job.id for job in nudges[:-1]]
    assert all(job.result_message_id in (None, panel.id) for job in nudges)
    # The panel now shows seed 10, with buttons for the job it shows.
    shown = nudges[-1]
    assert "seed 10" in panel.content and f"lcm:tweak:seed-up:{shown.id}" in _labels(panel)
    assert not np.array_equal(_picture(panel.attachments[0]), _picture(result.attachments[0]))

    # Guidance cannot go below 0: said privately, the panel untouched.
    edits = len(panel.history)
    for _ in range(3):
        low = await double.click(panel, f"lcm:tweak:guidance-down:{shown.id}")
    refusal = await low.wait_for_followup(timeout=10)  # after the two clicks before it
    await renders.wait_idle()
    assert refusal.ephemeral and "Guidance is already at its limit" in refusal.content
    assert "0 to 8" in refusal.content and refusal.id != panel.id

    # Keep posts what the panel shows as a normal result, for everyone, with all its buttons.
    kept_click = await double.click(panel, f"lcm:tweak:keep:{panel_job(panel)}")
    kept = await kept_click.wait_for_followup(timeout=30)
    await harness.idle()
    kept_id = int(kept.custom_ids()[0].split(":")[2])
    kept_job = await harness.database.jobs.get(kept_id)
    assert not kept.ephemeral and f"lcm:reroll:{kept_id}" in kept.custom_ids()
    assert kept_job.parent_id == panel_job(panel) and kept_job.command == "button:keep"
    diff = np.abs(_picture(kept.attachments[0]) - _picture(panel.attachments[0]))
    assert diff.max() <= 1, "the same seed and parameters: the picture the panel showed"
    assert len(panel.history) >= edits


def _faint_and_strong() -> bytes:
    """A strong edge every threshold finds, and fainter ones that only lower thresholds find."""
    image = Image.new("L", (64, 64), 100)
    image.paste(250, (4, 4, 28, 28))
    image.paste(140, (36, 4, 60, 28))
    image.paste(125, (4, 36, 60, 60))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def panel_job(panel) -> int:
    """The job the panel shows: the one its buttons carry."""
    keep = next(c for c in panel.custom_ids() if c.startswith("lcm:tweak:keep:"))
    return int(keep.split(":")[3])


async def test_the_canny_loop_recomputes_the_edges_and_edits_the_result_in_place(harness):
    double = harness.double
    harness.runner.gate.set()
    record = await double.invoke(
        "canny", {"prompt": "a tidy desk", "image": ("desk.png", _faint_and_strong()), "seed": 3}
    )
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    origin = int(result.custom_ids()[0].split(":")[2])
    labels = _labels(result)
    assert [labels[f"lcm:tweak:{m}:{origin}"] for m in ("edges-fewer", "edges-more")] == [
        "Fewer edges",
        "More edges",
    ]
    assert labels[f"lcm:tweak:edges-invert:{origin}"] == "Invert edges"
    edges = {a.filename: _picture(a) for a in result.attachments}["edges.png"]
    renders = harness.bot.get_cog("NudgeCog").renders

    # Someone else may look, not steer.
    other = double.add_user("other")
    double.add_member(double.guild, other)
    await double.push_guilds()
    theirs = await double.click(result, f"lcm:tweak:edges-more:{origin}", user=other)
    assert "Only the person who made" in (await theirs.wait_for_original(timeout=10)).content
    messages_before = len(double.messages_in(double.channel))

    steps = []
    for move in ("edges-more", "edges-more", "edges-invert"):
        job_id = int(result.custom_ids()[0].split(":")[2])
        click = await double.click(result, f"lcm:tweak:{move}:{job_id}")
        await double.wait_until(
            lambda job_id=job_id: f"lcm:reroll:{job_id}" not in result.custom_ids() or None,
            30,
            "the result edited to the new job",
        )
        await renders.wait_idle()
        assert (await click.wait_for_response()).type == 6 and click.followups == []
        steps.append({a.filename: _picture(a) for a in result.attachments}["edges.png"])
    assert len(double.messages_in(double.channel)) == messages_before, "edited, never posted"
    jobs = [j for j in await _journal(harness) if j.command.startswith("button:edges")]
    assert [(j.parameters["low_threshold"], j.parameters["high_threshold"]) for j in jobs] == [
        (67, 133),
        (45, 89),
        (45, 89),
    ]
    assert [j.parameters["invert_edges"] for j in jobs] == [False, False, True]
    assert all(j.status == JobStatus.FINISHED and j.result_message_id == result.id for j in jobs)
    # Lower thresholds find more edges; inverted, the lines are black on white.
    white = [int((e > 127).sum()) for e in (edges, *steps)]
    assert white[0] <= white[1] <= white[2] and white[0] < white[2]
    assert np.array_equal(steps[2], 255 - steps[1])
    assert "inverted" in result.content and f"lcm:reroll:{jobs[-1].id}" in result.custom_ids()


async def test_nudging_picture_two_of_two_starts_from_its_seed_alone(harness):
    double = harness.double
    harness.runner.gate.set()
    record = await double.invoke("imagine", {"prompt": "two kites", "seed": 40, "count": 2})
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    origin = int(result.custom_ids()[0].split(":")[2])
    chooser = await (await double.click(result, f"lcm:nudge:{origin}")).wait_for_original(
        lambda m: bool(m.components), timeout=30
    )
    opened = await double.click(chooser, f"lcm:nudge:{origin}:2")
    panel = await opened.wait_for_followup(timeout=30)
    assert panel.ephemeral and f"lcm:tweak:seed-up:{origin}:2" in panel.custom_ids()
    assert "picture 2" in panel.content
    await double.click(panel, f"lcm:tweak:seed-up:{origin}:2")
    await double.wait_until(lambda: panel_job(panel) != origin or None, 30, "the panel edited")
    await harness.bot.get_cog("NudgeCog").renders.wait_idle()
    nudged = await harness.database.jobs.get(panel_job(panel))
    assert nudged.seeds == [42] and nudged.parameters["count"] == 1
    assert nudged.parent_id == origin and len(panel.attachments) == 1


@pytest.mark.parametrize("limits", [Limits(token_lifetime=3.0)])  # 15 minutes, scaled down
async def test_a_render_outliving_the_click_token_still_reaches_the_user(harness):
    double, runner = harness.double, harness.runner
    renders = harness.bot.get_cog("NudgeCog").renders
    runner.gate.set()
    canny = await double.invoke(
        "canny", {"prompt": "a GATE desk", "image": ("desk.png", _faint_and_strong())}
    )
    result = await canny.wait_for_followup(timeout=30)
    imagine = await double.invoke("imagine", {"prompt": "a GATE kite"})
    kite = await imagine.wait_for_followup(timeout=30)
    await harness.idle()
    opened = await double.click(kite, kite.custom_ids()[0].replace("reroll", "nudge"))
    panel = await opened.wait_for_followup(timeout=30)

    runner.gate.clear()  # both renders wait until their clicks' tokens have expired
    canny_job = int(result.custom_ids()[0].split(":")[2])
    edges = await double.click(result, f"lcm:tweak:edges-more:{canny_job}")
    nudge = await double.click(panel, f"lcm:tweak:seed-up:{panel_job(panel)}")
    await edges.wait_token_expired(timeout=10)
    await nudge.wait_token_expired(timeout=10)
    before = len(double.messages_in(double.channel))
    runner.gate.set()
    await double.wait_until(
        lambda: (
            (
                len(double.messages_in(double.channel)) > before
                and f"lcm:reroll:{canny_job}" not in result.custom_ids()
            )
            or None
        ),
        30,
        "both renders delivered",
    )
    await renders.wait_idle()

    # The public /canny result: edited through the channel, as the bot's own message.
    assert f"lcm:reroll:{canny_job}" not in result.custom_ids()
    assert result.history[-1].via == "edit_message"
    # The private panel cannot be: the picture is posted in the channel with a mention.
    posted = double.messages_in(double.channel)[before:]
    assert len(posted) == 1 and posted[0].content.startswith(f"<@{double.user.id}> ")
    nudged = int(posted[0].custom_ids()[0].split(":")[2])
    job = await harness.database.jobs.get(nudged)
    assert job.status == JobStatus.FINISHED and job.result_message_id == posted[0].id
    assert double.take_violations(Rule.TOKEN_EXPIRED)


async def _panels_then_a_busy_worker(harness, server_options, subcommand, panels: int):
    """A server setting, a first result (1 image) with ``panels`` Nudge panels open on it, then
    the worker held by the owner's render, so the member's clicks wait in the queue."""
    double, runner = harness.double, harness.runner
    saved = await (
        await double.invoke("server", server_options, subcommand=subcommand, user=double.owner)
    ).wait_for_followup(timeout=30)
    assert saved.ephemeral and "(updated)" in saved.content, saved.content
    runner.gate.set()
    result = await (
        await double.invoke("imagine", {"prompt": "a lighthouse", "seed": 5})
    ).wait_for_followup(timeout=30)
    await harness.idle()
    origin = int(result.custom_ids()[0].split(":")[2])
    opened = [
        await (await double.click(result, f"lcm:nudge:{origin}")).wait_for_followup(timeout=30)
        for _ in range(panels)
    ]
    runner.gate.clear()
    busy = await double.invoke("imagine", {"prompt": "GATE a long render"}, user=double.owner)
    await busy.wait_for_original(lambda m: "Rendering" in (m.content or ""), timeout=30)
    return origin, opened


async def test_nudge_clicks_keep_to_the_members_queue_cap_unless_they_replace_a_waiting_render(
    harness,
):
    double, runner, engine = harness.double, harness.runner, harness.engine
    renders = harness.bot.get_cog("NudgeCog").renders
    origin, panels = await _panels_then_a_busy_worker(harness, {"max_queued": 1}, "settings", 2)
    first = await double.click(panels[0], f"lcm:tweak:seed-up:{origin}")
    await double.wait_until(
        lambda: len(engine.waiting_jobs(double.user.id)) == 1 or None, 30, "click 1 waiting"
    )
    superseded = engine.snapshot().superseded
    again = await double.click(panels[0], f"lcm:tweak:seed-up:{origin}")  # replaces click 1
    await double.wait_until(
        lambda: engine.snapshot().superseded > superseded or None, 30, "click 2 replaced click 1"
    )
    other = await double.click(panels[1], f"lcm:tweak:seed-up:{origin}")  # a second session
    refusal = await other.wait_for_followup(timeout=30)
    assert refusal.ephemeral and "You already have 1 jobs waiting" in refusal.content
    assert len(engine.waiting_jobs(double.user.id)) == 1
    runner.gate.set()
    await renders.wait_idle()
    assert first.followups == [] and again.followups == []


async def test_a_superseded_nudge_click_gives_its_images_back_to_the_quota(harness):
    double, runner, engine = harness.double, harness.runner, harness.engine
    renders = harness.bot.get_cog("NudgeCog").renders
    origin, (panel,) = await _panels_then_a_busy_worker(harness, {"daily_images": 3}, "quota", 1)
    superseded = engine.snapshot().superseded
    for _ in range(2):  # the second click replaces the first while it waits
        await double.click(panel, f"lcm:tweak:seed-up:{origin}")
    await double.wait_until(
        lambda: engine.snapshot().superseded > superseded or None, 30, "click 1 replaced"
    )
    runner.gate.set()
    await renders.wait_idle()
    await harness.idle()

    nudges = [job for job in await _journal(harness) if job.command == "button:seed-up"]
    assert [job.status for job in nudges] == [JobStatus.CANCELLED, JobStatus.FINISHED]
    # The first picture and the click that rendered: 2 of 3; the replaced click cost nothing.
    assert (
        "**1** of 3 images left today"
        in (await (await double.invoke("quota", {})).wait_for_followup(timeout=30)).content
    )


async def test_a_graceful_stop_waits_for_the_running_nudge_render_to_reach_its_message(harness):
    from bot.run import drain

    double, runner = harness.double, harness.runner
    runner.gate.set()
    record = await double.invoke("imagine", {"prompt": "a GATE lighthouse", "seed": 5})
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    origin = int(result.custom_ids()[0].split(":")[2])
    panel = await (await double.click(result, f"lcm:nudge:{origin}")).wait_for_followup(timeout=30)
    runner.gate.clear()  # the click's render holds in the GATE while the stop begins
    calls = len(runner.calls)
    await double.click(panel, f"lcm:tweak:seed-up:{origin}")
    await double.wait_until(lambda: len(runner.calls) > calls or None, 30, "the render running")

    stopping = asyncio.create_task(drain(harness.bot, harness.engine, 30))
    await double.wait_until(lambda: harness.bot.jobs.stopping or None, 30, "the drain begun")
    runner.gate.set()
    await stopping

    (nudge,) = [job for job in await _journal(harness) if job.command == "button:seed-up"]
    assert nudge.status == JobStatus.FINISHED, "not left running, to be posted after a restart"
    assert nudge.result_message_id == panel.id
    assert panel_job(panel) == nudge.id, "the panel was edited to show it"
