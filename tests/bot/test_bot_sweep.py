"""/sweep end to end: one sheet edited as cells arrive, its labels and cells, a cell opened."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops

from generation.images.contact_sheet import PENDING, layout_sheet
from storage.models import JobStatus
from tests.bot.conftest import make_bot, png_bytes
from tests.discord_double import Limits
from tests.discord_double.limits import Rule

ROWS = ("red", "blue", "GATE")  # the third row's prompt holds its batch until runner.gate is set
COLUMNS = ("seed 1", "seed 2", "seed 3", "seed 4")
CELL = 64


def _sheet(version) -> Image.Image:
    (attachment,) = version.attachments
    return Image.open(io.BytesIO(attachment.data)).convert("RGB")


def _drawn_cells(sheet: Image.Image, rows=ROWS, columns=COLUMNS) -> int:
    """Cells showing a picture, not the grey tile of a cell still to come."""
    layout = layout_sheet(rows, columns, (CELL, CELL))
    drawn = 0
    for r in range(len(rows)):
        for c in range(len(columns)):
            left, top, _, _ = layout.cell_box(r, c)
            drawn += sheet.getpixel((left + CELL // 2, top + CELL - 4)) != PENDING
    return drawn


async def test_a_3_by_4_sweep_is_one_sheet_edited_as_cells_arrive_and_a_cell_opens(harness):
    double = harness.double
    record = await double.invoke(
        "sweep", {"prompt": "a {red, blue, GATE} car", "axis": "seed", "values": "1..4"}
    )
    sheet_message = await record.wait_for_followup(timeout=30)
    # The first cells are on the sheet while the GATE row cannot have run yet.
    partial = _sheet(sheet_message.history[0])
    layout = layout_sheet(ROWS, COLUMNS, (CELL, CELL))
    assert (
        partial.size
        == layout.size
        == (layout.row_header_width + 4 * CELL, layout.column_header_height + 3 * CELL)
    )
    assert 1 <= _drawn_cells(partial) <= 8
    assert "done" in sheet_message.history[0].content
    harness.runner.gate.set()
    await harness.bot.get_cog("SweepCog").wait_idle()

    assert len(sheet_message.history) >= 2, "the sheet is edited, not posted again"
    assert len(record.followup_ids) == 1
    final = _sheet(sheet_message.history[-1])
    assert final.size == layout.size and _drawn_cells(final) == 12
    assert "complete" in sheet_message.content and "3 × 4 = 12 cells" in sheet_message.content

    jobs = sorted(
        await harness.database.jobs.recent(user_id=double.user.id, limit=20), key=lambda j: j.id
    )
    assert len(jobs) == 12 and {j.command for j in jobs} == {"sweep"}
    assert all(
        j.status == JobStatus.FINISHED and j.result_message_id == sheet_message.id for j in jobs
    )
    assert [j.seeds[0] for j in jobs[4:8]] == [1, 2, 3, 4]
    assert jobs[5].parameters["prompt"] == "a blue car"

    (select,) = [c for c in sheet_message.custom_ids() if c.startswith("lcm:sweep:")]
    cell = jobs[5]  # row "blue", column "seed 2"
    click = await double.click(sheet_message, select, values=[str(cell.id)])
    opened = await click.wait_for_followup(timeout=30)
    assert (
        f"lcm:reroll:{cell.id}" in opened.custom_ids()
        and f"lcm:info:{cell.id}" in opened.custom_ids()
    )
    assert "a blue car" in opened.content and "blue · seed 2" in opened.content
    with Image.open(io.BytesIO(opened.attachments[0].data)) as picture:
        on_sheet = final.crop(layout.cell_box(1, 1))
        assert ImageChops.difference(picture.convert("RGB"), on_sheet).getbbox() is None

    # Its buttons are a normal result's: a re-roll runs the cell's job again.
    reroll = await double.click(opened, f"lcm:reroll:{cell.id}")
    again = await reroll.wait_for_followup(timeout=30)
    await harness.idle()
    new_job = await harness.database.jobs.get(int(again.custom_ids()[0].split(":")[2]))
    assert new_job.parent_id == cell.id and new_job.parameters["prompt"] == "a blue car"


async def test_sweep_sheet_time_to_first_cell_and_to_full_sheet(harness):
    double = harness.double
    record = await double.invoke(
        "sweep", {"prompt": "a {red, blue, gold} car", "axis": "seed", "values": "1..4"}
    )
    sheet_message = await record.wait_for_followup(timeout=30)
    await harness.bot.get_cog("SweepCog").wait_idle()
    first = sheet_message.history[0].at - record.dispatched_at
    full = sheet_message.history[-1].at - record.dispatched_at
    rows = ("red", "blue", "gold")
    assert _drawn_cells(_sheet(sheet_message.history[-1]), rows) == 12
    print(
        f"\n/sweep 3 × 4 (tiny, CPU, through the double): first cell on the sheet {first:.2f} s, "
        f"full sheet {full:.2f} s, {len(sheet_message.history)} version(s), "
        f"engine calls {[len(c) for c in harness.runner.calls]}"
    )
    assert first <= full


async def test_bad_sweeps_are_refused_privately_before_any_job(harness):
    double = harness.double
    for options, says in (
        ({"prompt": "a {red, blue car"}, "never closed"),
        ({"prompt": "a {a, b, c, d, e} car", "axis": "seed", "values": "1..4"}, "at most 16"),
        ({"prompt": "a car", "axis": "strength", "values": "0.2..0.8 x4"}, "attach one"),
    ):
        record = await double.invoke("sweep", options)
        reply = await record.wait_for_original(lambda m, says=says: says in m.content, timeout=10)
        assert reply.ephemeral
    assert await harness.database.jobs.recent(user_id=double.user.id) == []


async def test_a_server_sets_its_own_sweep_size_up_to_25_cells(harness):
    double = harness.double
    twenty = {"prompt": "a {a, b, c, d, e} car", "axis": "strength", "values": "0.2..0.8 x4"}
    six = {"prompt": "a {a, b, c} car", "axis": "seed", "values": "1..2"}

    async def sweep_says(options, says):
        record = await double.invoke("sweep", options)
        await record.wait_for_original(lambda m: says in m.content, timeout=10)

    async def settings(cells):
        record = await double.invoke(
            "server", {"max_sweep_cells": cells}, subcommand="settings", user=double.owner
        )
        return (await record.wait_for_followup(timeout=10)).content

    await sweep_says(twenty, "20 cells; at most 16 are allowed")  # the bot's default
    assert "cells per sweep: 25" in await settings(25)
    # Past the count: the next check (a strength sweep needs a picture) is what refuses it now.
    await sweep_says(twenty, "attach one")
    assert "cells per sweep: 4" in await settings(4)
    await sweep_says(six, "6 cells; at most 4 are allowed")
    assert await harness.database.jobs.recent(user_id=double.user.id) == []


async def _journaled(harness) -> list:
    jobs = await harness.database.jobs.recent(user_id=harness.double.user.id, limit=30)
    return sorted(jobs, key=lambda j: j.id)


async def test_each_axis_value_reaches_its_cell_and_one_seed_is_shared(harness):
    double = harness.double
    for options in (
        {"axis": "style_weight", "values": "0.2..0.8 x3", "style": "ink"},
        {"axis": "steps", "values": "2, 4"},
        {"axis": "guidance", "values": "1..2"},
    ):
        record = await double.invoke("sweep", {"prompt": "a kite", "seed": 9, **options})
        await record.wait_for_followup(timeout=30)
        await harness.bot.get_cog("SweepCog").wait_idle()
    jobs = await _journaled(harness)
    assert [[s["weight"] for s in j.parameters["styles"]] for j in jobs[:3]] == [
        [0.2],
        [0.5],
        [0.8],
    ]
    assert [j.parameters["steps"] for j in jobs[3:5]] == [2, 4]
    assert [j.parameters["guidance"] for j in jobs[5:7]] == [1.0, 2.0]
    assert {j.seeds[0] for j in jobs} == {9}


async def test_after_a_restart_a_cell_opens_by_rendering_its_job_again(harness, tiny_pipelines):
    double = harness.double
    record = await double.invoke("sweep", {"prompt": "a {red, blue} kite", "seed": 4})
    sheet_message = await record.wait_for_followup(timeout=30)
    await harness.bot.get_cog("SweepCog").wait_idle()
    blue = (await _journaled(harness))[1]
    await harness.bot.close()  # the pictures kept in memory are gone with it

    fresh = make_bot(harness.settings, harness.engine, harness.database, tiny_pipelines)
    async with double.running(fresh):
        (select,) = [c for c in sheet_message.custom_ids() if c.startswith("lcm:sweep:")]
        click = await double.click(sheet_message, select, values=[str(blue.id)])
        opened = await click.wait_for_followup(timeout=30)
        await fresh.jobs.wait_idle()
    again = await harness.database.jobs.get(int(opened.custom_ids()[0].split(":")[2]))
    assert again.parent_id == blue.id and again.seeds == [4]
    assert again.parameters["prompt"] == "a blue kite" and opened.attachments


async def test_each_cell_takes_its_own_turn_in_the_fair_queue(harness):
    """Another user's job runs between a sweep's cells, not after the whole sheet."""
    double = harness.double
    cog = harness.bot.get_cog("SweepCog")
    # Steps 1..6: six batch keys, so six engine calls; the GATE holds the first until we let go.
    await double.invoke(
        "sweep", {"prompt": "a GATE kite", "axis": "steps", "values": "1..6", "seed": 3}
    )
    await double.wait_until(lambda: harness.runner.calls or None, 30, "the first cell running")
    other = double.add_user("other")
    double.add_member(double.guild, other)
    await double.push_guilds()
    theirs = await double.invoke(
        "imagine", {"prompt": "a quiet pond", "steps": 8, "seed": 1}, user=other
    )
    await double.wait_until(
        lambda: harness.engine.waiting_jobs(other.id) or None, 30, "their job queued"
    )
    harness.runner.gate.set()
    await theirs.wait_for_followup(timeout=30)
    await cog.wait_idle()
    await harness.idle()
    calls = harness.runner.calls
    assert len(calls) == 7
    pond = next(i for i, call in enumerate(calls) if "a quiet pond" in call)
    assert pond <= 2, f"their job waited behind the sweep's cells: {calls}"


async def test_strength_and_canny_scale_sweeps_start_from_the_attached_picture(harness):
    double = harness.double
    for options in (
        {"axis": "strength", "values": "0.5..1 x3"},
        {"axis": "canny_scale", "values": "0.5, 1.5"},
    ):
        record = await double.invoke(
            "sweep",
            {"prompt": "a {yellow, green} box", "image": ("photo.png", png_bytes())} | options,
        )
        sheet_message = await record.wait_for_followup(timeout=30)
        await harness.bot.get_cog("SweepCog").wait_idle()
        assert "complete" in sheet_message.content
    jobs = await _journaled(harness)
    assert [j.parameters["mode"] for j in jobs] == ["img2img"] * 6 + ["controlnet"] * 4
    assert [j.parameters["strength"] for j in jobs[3:6]] == [0.5, 0.75, 1.0]
    assert [j.parameters["conditioning_scale"] for j in jobs[6:8]] == [0.5, 1.5]
    assert all(j.status == JobStatus.FINISHED for j in jobs)


@pytest.mark.parametrize("limits", [Limits(token_lifetime=3.0)])  # 15 minutes, scaled down
async def test_a_sheet_outliving_the_interaction_token_goes_on_in_the_channel(harness):
    double, runner = harness.double, harness.runner
    cog = harness.bot.get_cog("SweepCog")
    # Posted while the token lives, completed after it expired: the same message, edited.
    # 8 cells fill the first engine call, so the GATE row runs in a second one.
    edited = await double.invoke(
        "sweep", {"prompt": "a {red, blue, GATE} kite", "axis": "seed", "values": "1..4"}
    )
    sheet_message = await edited.wait_for_followup(timeout=30)
    await edited.wait_token_expired(timeout=10)
    runner.gate.set()
    await cog.wait_idle()
    assert "complete" in sheet_message.content and len(sheet_message.history) == 2
    assert double.take_violations(Rule.TOKEN_EXPIRED)

    # Nothing finished before the token expired: the sheet is posted in the channel.
    runner.gate.clear()
    late = await double.invoke("sweep", {"prompt": "a GATE {red, blue} kite"})
    await late.wait_token_expired(timeout=10)
    runner.gate.set()
    await cog.wait_idle()
    posted = double.messages_in(double.channel)[-1]
    assert posted.interaction_id is None and posted.content.startswith(f"<@{double.user.id}> ")
    assert "complete" in posted.content and len(posted.attachments) == 1
    # The bot learns of the expiry from Discord's 401 (code 50027), and falls back.
    assert double.take_violations(Rule.TOKEN_EXPIRED)
    assert late.followups == [] and double.violations == []
    await harness.idle()


async def test_only_recent_sweeps_stay_in_memory_older_cells_render_again(harness, monkeypatch):
    import bot.cogs.sweep as sweep_module

    monkeypatch.setattr(sweep_module, "KEPT_PIXELS", 1)  # only the newest sweep is kept
    double = harness.double
    sheets = []
    for colour in ("red", "blue"):
        record = await double.invoke("sweep", {"prompt": f"a {colour} {{kite, boat}}", "seed": 2})
        sheets.append(await record.wait_for_followup(timeout=30))
        await harness.bot.get_cog("SweepCog").wait_idle()
    old_cell, new_cell = (await _journaled(harness))[0::2]
    opened = []
    for sheet, cell in zip(sheets, (old_cell, new_cell), strict=True):
        (select,) = [c for c in sheet.custom_ids() if c.startswith("lcm:sweep:")]
        click = await double.click(sheet, select, values=[str(cell.id)])
        opened.append(await click.wait_for_followup(timeout=30))
        await harness.idle()
    rerendered = int(opened[0].custom_ids()[0].split(":")[2])
    assert rerendered != old_cell.id
    assert (await harness.database.jobs.get(rerendered)).parent_id == old_cell.id
    assert opened[1].custom_ids()[0] == f"lcm:reroll:{new_cell.id}", "from memory: no new job"


async def test_a_graceful_stop_mid_sweep_keeps_the_unfinished_cells_for_the_next_start(harness):
    from bot.run import drain

    double = harness.double
    record = await double.invoke(
        "sweep", {"prompt": "a {red, blue, GATE} kite", "axis": "seed", "values": "1..4"}
    )
    sheet_message = await record.wait_for_followup(timeout=30)  # 8 cells; the GATE row is held
    await drain(harness.bot, harness.engine, 0.5)
    await harness.bot.get_cog("SweepCog").wait_idle()
    statuses = [job.status for job in await _journaled(harness)]
    assert statuses == [JobStatus.FINISHED] * 8 + [JobStatus.QUEUED] * 4
    assert "4 cell(s) run when it is back" in sheet_message.content
    assert _drawn_cells(_sheet(sheet_message.history[-1])) == 8
