"""The moderators' log: exactly one entry per posted, deleted and blocked result and per setting
change, including entries whose event came just before the bot stopped."""

from __future__ import annotations

import asyncio

from sqlalchemy import update

from storage.models import ModLogEntry
from tests.bot.conftest import png_bytes
from tests.bot.test_bot_blocklist import admin, entries, with_log_channel
from tests.bot.test_bot_buttons import restarted
from tests.bot.test_bot_policy import private_reply
from tests.discord_double.limits import Rule


def kinds(double, log_channel) -> list[str]:
    """Each entry's first line up to its first " · " or ":" (its kind), in order."""
    return [m.content.split("**")[1] for m in double.messages_in(log_channel)]


async def test_one_entry_per_event_across_a_restart(harness, tiny_pipelines):
    double, database = harness.double, harness.database
    log_channel = await with_log_channel(double)
    await admin(double, "settings", {"cooldown": 0})

    record = await double.invoke("imagine", {"prompt": "a lighthouse", "steps": 1})
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    job_id = (await database.jobs.recent(user_id=double.user.id))[0].id
    posted = entries(double, log_channel, "Result posted")
    assert len(posted) == 1
    assert f"job {job_id}" in posted[0].content and "a lighthouse" in posted[0].content
    link = f"https://discord.com/channels/{double.guild.id}/{double.channel.id}/{result.id}"
    assert link in posted[0].content
    assert [a.filename for a in posted[0].attachments] == ["thumbnail.png"]
    assert posted[0].attachments[0].data.startswith(b"\x89PNG")

    deleted = await double.click(result, f"lcm:delete:{job_id}")
    await deleted.wait_for_followup(timeout=10)
    assert len(entries(double, log_channel, "Result deleted")) == 1

    # Events just before a stop: the log channel refuses the bot for a moment, so these two
    # entries stay journaled, not posted.
    log_channel.bot_permissions = double.perm("view_channel")
    await admin(double, "add", {"pattern": "kraken"}, group="blocklist")
    blocked = await double.invoke("imagine", {"prompt": "a kraken"})
    assert "blocked" in await private_reply(blocked)
    log_channel.bot_permissions = None
    assert len(double.take_violations(Rule.MISSING_PERMISSIONS)) == 2  # the two refused posts
    # And one entry Discord took just before the bot died, before the journal marked it posted.
    async with database.sessions() as session, session.begin():
        await session.execute(
            update(ModLogEntry)
            .where(ModLogEntry.event_key == f"posted:{job_id}")
            .values(posted_at=None)
        )
    assert len(await database.mod_log.pending()) == 3

    async with restarted(harness, tiny_pipelines):
        pass
    assert await database.mod_log.pending() == []
    assert kinds(double, log_channel) == [
        "Server setting changed",  # the log channel itself
        "Server setting changed",  # cooldown
        "Result posted",
        "Result deleted",
        "Server setting changed",  # the blocklist rule, posted after the restart
        "Blocked prompt",  # posted after the restart
    ]
    assert "blocklist: added the word `kraken`" in double.messages_in(log_channel)[4].content


async def test_every_server_setting_change_is_one_entry_naming_who_and_what(harness):
    double = harness.double
    log_channel = await with_log_channel(double)
    booster = double.add_role(double.guild, "Booster")
    showcase = double.add_text_channel(double.guild, "showcase")
    await double.push_guilds()
    changes = [
        ("settings", {"max_steps": 4}, "max_steps = 4"),
        ("preset", {"name": "house", "steps": 2}, "server preset 'house': save"),
        ("limits", {"role": booster, "max_count": 2}, "limits of @Booster: max_count = 2"),
        ("channel deny", {"channel": double.channel}, f"channel <#{double.channel.id}>: deny"),
        ("quota", {"daily_images": 5}, "daily quota: daily_images = 5"),
        ("blocklist add", {"pattern": "kraken"}, "blocklist: added the word `kraken`"),
        ("showcase-channel", {"channel": showcase}, f"showcase channel → <#{showcase.id}>"),
    ]
    for subcommand, options, _ in changes:
        await admin(double, subcommand, options)
    # Reading changes nothing: no entry.
    for subcommand in ("quota", "blocklist list", "log-channel"):
        await admin(double, subcommand, {})
    shown = await admin(double, "settings", {})
    assert f"moderators' log: <#{log_channel.id}> (set by <@{double.owner.id}>)" in shown
    assert "prompt blocklist: 1 rule(s) of this server" in shown
    entries = double.messages_in(log_channel)[1:]  # after the log channel's own entry
    assert len(entries) == len(changes), [m.content for m in entries]
    for entry, (_, _, what) in zip(entries, changes, strict=True):
        assert f"by <@{double.owner.id}>" in entry.content and what in entry.content


async def test_a_finished_sweep_sheet_is_one_entry(harness):
    double = harness.double
    log_channel = await with_log_channel(double)
    record = await double.invoke("sweep", {"prompt": "a {red, blue} kite", "steps": 1})
    await record.wait_for_followup(timeout=30)
    await harness.bot.get_cog("SweepCog").wait_idle()
    [entry] = entries(double, log_channel, "Result posted")
    assert "a {red, blue} kite" in entry.content.replace("\\", "")
    assert [a.filename for a in entry.attachments] == ["thumbnail.png"]


async def test_a_picture_shown_in_place_in_a_public_result_is_one_entry(harness):
    double = harness.double
    log_channel = await with_log_channel(double)
    upload = ("desk.png", png_bytes((64, 64)))
    record = await double.invoke("canny", {"prompt": "a desk", "image": upload, "steps": 1})
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    first = int(result.custom_ids()[0].split(":")[2])
    await double.click(result, f"lcm:tweak:edges-more:{first}")
    await double.wait_until(lambda: f"lcm:reroll:{first}" not in result.custom_ids(), 30)
    await harness.bot.get_cog("NudgeCog").renders.wait_idle()
    second = int(result.custom_ids()[0].split(":")[2])
    posted = entries(double, log_channel, "Result posted")
    assert len(posted) == 2, "the result, then its picture redrawn in place"
    assert f"job {first}" in posted[0].content and f"job {second}" in posted[1].content
    assert str(result.id) in posted[1].content
    assert [a.filename for a in posted[1].attachments] == ["thumbnail.png"]


async def test_an_entry_that_failed_while_running_is_posted_once_without_a_restart(harness):
    double, database = harness.double, harness.database
    log_channel = await with_log_channel(double)
    harness.bot.mod_log.retry_first_s = 0.05  # the first retry round's delay; then it doubles
    sends = len(double.calls_to("create_message"))
    # 503: discord.py does not retry it itself, so the bot's own retry rounds are what is seen.
    double.inject_server_errors(1.0, status=503, routes={"create_message"}, max_consecutive=99)
    await admin(double, "settings", {"cooldown": 0})
    # The post at the event, then at least one retry round, all refused.
    await double.wait_until(lambda: len(double.calls_to("create_message")) >= sends + 2, 10)
    assert entries(double, log_channel, "cooldown") == []
    double.clear_faults()

    [entry] = await double.wait_until(lambda: entries(double, log_channel, "cooldown"), 10)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while await database.mod_log.pending():  # once marked posted, no round posts it again
        assert loop.time() < deadline, "the entry is still pending"
        await asyncio.sleep(0.02)  # polling the journal against the deadline
    assert entries(double, log_channel, "cooldown") == [entry]
    journaled = await database.mod_log.entries(double.guild.id)
    assert [e.message_id for e in journaled].count(entry.id) == 1, "marked with its message"
