"""Every button on a four-picture result posted before a restart works after it, on its picture."""

from __future__ import annotations

from bot.views import ACTIONS, PANELS
from storage.models import JobStatus
from tests.bot.test_bot_blocklist import admin
from tests.bot.test_bot_buttons import restarted
from tests.bot.test_bot_grow import open_panel
from tests.bot.test_bot_nudge import panel_job
from tests.bot.test_bot_pick_picture import choose, four_pictures, source_picture
from tests.bot.test_bot_policy import private_reply

# Each panel button, clicked after the restart on the panel posted before it: the picture the
# panel is for, and what the job it starts must be.
PANEL_CLICKS = (
    ("up2", 3, dict(mode="upscale", scale=2, upscale_kind="subtle", size="128x128")),
    ("up4", 3, dict(mode="upscale", scale=4, upscale_kind="subtle", size="256x256")),
    ("up2c", 3, dict(mode="upscale", scale=2, upscale_kind="creative", size="128x128")),
    ("up4c", 3, dict(mode="upscale", scale=4, upscale_kind="creative", size="256x256")),
    ("zoom15", 2, dict(mode="outpaint", outpaint="zoom-1.5", size="96x96")),
    ("zoom2", 2, dict(mode="outpaint", outpaint="zoom-2", size="128x128")),
    ("pan-left", 2, dict(mode="outpaint", outpaint="pan-left", size="96x64")),
    ("pan-right", 2, dict(mode="outpaint", outpaint="pan-right", size="96x64")),
    ("pan-up", 2, dict(mode="outpaint", outpaint="pan-up", size="64x96")),
    ("pan-down", 2, dict(mode="outpaint", outpaint="pan-down", size="64x96")),
)
# Clicked after the restart on the result itself (through the chooser where it asks): command,
# picture, what the job must be. Vary n is the V row; the others ask which picture.
IMG2IMG = dict(mode="img2img", size="64x64")
RESULT_CLICKS = (
    ("vary", 4, dict(IMG2IMG, strength=0.7, count=4)),
    ("vary-subtle", 3, dict(IMG2IMG, strength=0.35, count=4)),
)


def job_of(message) -> int:
    return int(message.custom_ids()[0].split(":")[2])


async def test_every_action_on_a_result_posted_before_a_restart_works_after_it(
    harness, tiny_pipelines
):
    double, journal = harness.double, harness.database.jobs
    result, job_id = await four_pictures(harness)
    parent = await journal.get(job_id)
    showcase = double.add_text_channel(double.guild, "showcase")
    await double.push_guilds()
    await admin(double, "showcase-channel", {"channel": showcase})
    # Posted before the restart: both panels, a nudge panel and a chooser (private messages
    # whose buttons the old process made; the fresh one rebuilds them from their custom_ids).
    panels = {
        "upscale": await open_panel(harness, result, f"lcm:upscale:{job_id}:3"),
        "outpaint": await (
            await choose(harness, result, f"lcm:outpaint:{job_id}", 2)
        ).wait_for_original(),
    }
    old_nudge = await (await choose(harness, result, f"lcm:nudge:{job_id}", 2)).wait_for_followup(
        timeout=30
    )
    init_chooser = await (await double.click(result, f"lcm:init:{job_id}")).wait_for_original()

    started = []  # (the message a click posted, its action, its picture, the job's values)

    async def seed_plus(panel, picture: int) -> None:
        await double.click(panel, f"lcm:tweak:seed-up:{job_id}:{picture}")
        await double.wait_until(lambda: panel_job(panel) != job_id or None, 30, "panel edited")

    before_restart = set(double.interactions)
    async with restarted(harness, tiny_pipelines) as bot:
        # The nudge panel from before first: once the fresh process posts a panel of its own,
        # discord.py knows its buttons from that view, and a broken restart path goes unseen.
        await seed_plus(old_nudge, 2)
        for action, picture, expected in PANEL_CLICKS:
            panel = panels["upscale" if action in PANELS["upscale"] else "outpaint"]
            click = await double.click(panel, f"lcm:{action}:{job_id}:{picture}")
            started.append((await click.wait_for_followup(timeout=60), action, picture, expected))
        # Upscale 4 of the U row opens a fresh panel for picture 4.
        panel = await open_panel(harness, result, f"lcm:upscale:{job_id}:4")
        click = await double.click(panel, f"lcm:up4c:{job_id}:4")
        started.append((await click.wait_for_followup(timeout=60), "up4c", 4, PANEL_CLICKS[3][2]))

        click = await double.click(result, f"lcm:vary:{job_id}:4")
        started.append((await click.wait_for_followup(timeout=30), *RESULT_CLICKS[0]))
        click = await choose(harness, result, f"lcm:vary-subtle:{job_id}", 3)
        started.append((await click.wait_for_followup(timeout=30), *RESULT_CLICKS[1]))
        # Use as init from the chooser posted before the restart: the modal, then the job.
        click = await double.click(init_chooser, f"lcm:init:{job_id}:2")
        await click.wait_for_response()
        submitted = await double.submit_modal(click, {"prompt": "at night", "strength": "0.5"})
        init = (await submitted.wait_for_followup(timeout=30), "init", 2, dict(strength=0.5))
        started.append(init)

        click = await choose(harness, result, f"lcm:remix:{job_id}", 3)
        await click.wait_for_response()
        submitted = await double.submit_modal(click, {"prompt": "a blue kite"})
        remixed = await submitted.wait_for_followup(timeout=30)
        rerolled = await (await double.click(result, f"lcm:reroll:{job_id}")).wait_for_followup(
            timeout=30
        )

        # Nudge opened now, on picture 3: the panel shows that picture.
        new_nudge = await (
            await choose(harness, result, f"lcm:nudge:{job_id}", 3)
        ).wait_for_followup(timeout=30)
        assert new_nudge.attachments[0].data == result.attachments[2].data
        await seed_plus(new_nudge, 3)
        await bot.get_cog("NudgeCog").renders.wait_idle()

        # The result's own Zoom out / pan and Use as init buttons ask which picture again.
        zoom = await (
            await choose(harness, result, f"lcm:outpaint:{job_id}", 1)
        ).wait_for_original()
        assert zoom.custom_ids() == [f"lcm:{a}:{job_id}:1" for a in PANELS["outpaint"]]
        chooser = await (await double.click(result, f"lcm:init:{job_id}")).wait_for_original()
        assert chooser.custom_ids() == [f"lcm:init:{job_id}:{n}" for n in range(1, 5)]

        info = await (await double.click(result, f"lcm:info:{job_id}")).wait_for_original()
        assert info.ephemeral and f"Job {job_id}" in info.content
        assert "Posted to the showcase" in await private_reply(
            await double.click(result, f"lcm:showcase:{job_id}")
        )
        await bot.jobs.wait_idle()
        # Last: Delete takes the result, which every other click read its pictures from.
        await (await double.click(result, f"lcm:delete:{job_id}")).wait_for_followup(timeout=10)
    assert double.messages[result.id].deleted
    [posted] = double.messages_in(showcase)
    assert [a.data for a in posted.attachments] == [a.data for a in result.attachments]

    for message, action, picture, expected in started:
        job = await journal.get(job_of(message))
        assert job.status == JobStatus.FINISHED and job.parent_id == job_id, action
        assert job.command == f"button:{action}:{picture}"
        assert {k: job.parameters[k] for k in expected} == expected, action
        assert await source_picture(harness, job.id, result) == picture, action

    remix = await journal.get(job_of(remixed))
    assert remix.parent_id == job_id and remix.command == "button:remix:3"
    assert remix.seeds == [parent.seeds[2]] and remix.parameters["prompt"] == "a blue kite"
    reroll = await journal.get(job_of(rerolled))
    assert reroll.parent_id == job_id and reroll.command == "button:reroll"
    assert reroll.parameters["count"] == 4 and not set(reroll.seeds) & set(parent.seeds)
    for panel, picture in ((new_nudge, 3), (old_nudge, 2)):
        nudged = await journal.get(panel_job(panel))
        assert nudged.parent_id == job_id and nudged.command == "button:seed-up"
        assert nudged.seeds == [parent.seeds[picture - 1] + 1], picture
        assert nudged.status == JobStatus.FINISHED

    # Every result action and panel button was clicked after the restart: read from what the
    # double dispatched, not from a list kept here.
    clicked = {
        record.name.split(":")[1]
        for interaction_id, record in double.interactions.items()
        if interaction_id not in before_restart and record.type == 3
    }
    assert clicked >= set(ACTIONS) | {a for panel in PANELS.values() for a in panel}
