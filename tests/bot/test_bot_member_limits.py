"""Limits by channel and role and daily quotas, through the real client and the Discord double."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.bot.test_bot_commands import reply_of


class SettableClock:
    """A real clock that a test moves by hand; the quota's day follows it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def admin_says(double, name, options, subcommand):
    return await reply_of(
        await double.invoke(name, options, subcommand=subcommand, user=double.owner)
    )


def engine_jobs(harness) -> int:
    return harness.engine.snapshot().jobs["submitted"]


async def test_a_denied_channel_refuses_every_way_in_before_any_work(harness):
    double = harness.double
    art = double.add_text_channel(double.guild, "art")
    elsewhere = double.add_text_channel(double.guild, "elsewhere")
    await double.push_guilds()

    for options, subcommand in (
        ({"channel": double.channel}, "channel deny"),
        ({"role": double.guild.roles[double.guild.id], "max_count": 4}, "limits"),
        ({"daily_images": 5}, "quota"),
    ):
        not_admin = await double.invoke(
            "server", options, subcommand=subcommand, ignore_default_permissions=True
        )
        assert "You need the Manage Server permission" in await reply_of(not_admin)
    assert await harness.database.limits.channels(double.guild.id) == []
    assert await harness.database.limits.roles(double.guild.id) == []
    assert (await harness.database.quotas.settings(double.guild.id)).daily_images is None

    # A result from before the channel was denied: its buttons are a way in too.
    first = await (await double.invoke("imagine", {"prompt": "a fox"})).wait_for_followup(
        timeout=30
    )
    await harness.idle()
    job_id = int(first.custom_ids()[0].split(":")[2])

    saved = await admin_says(double, "server", {"channel": double.channel}, "channel deny")
    assert "Saved." in saved and "denied" in saved

    imagine = await double.invoke("imagine", {"prompt": "a fox"})
    refusal = await imagine.wait_for_original(lambda m: bool(m.content), timeout=30)
    assert refusal.ephemeral and "turned the bot off in this channel" in refusal.content
    sweep = await double.invoke("sweep", {"prompt": "a {fox, cat}"})
    assert "turned the bot off" in await reply_of(sweep, timeout=30)
    thread = double.add_thread(double.channel, "ideas")
    await double.push_guilds()
    in_thread = await double.invoke("imagine", {"prompt": "a fox"}, channel=thread)
    assert "turned the bot off" in await reply_of(in_thread, timeout=30)

    reroll = await double.click(first, f"lcm:reroll:{job_id}")
    assert "turned the bot off" in await reply_of(reroll, timeout=30)

    # Once a channel is allowed, only allowed channels work, and the refusal names them.
    await admin_says(double, "server", {"channel": art}, "channel allow")
    other = await double.invoke("imagine", {"prompt": "a fox"}, channel=elsewhere)
    assert f"Use it in <#{art.id}>" in await reply_of(other, timeout=30)

    assert engine_jobs(harness) == 1, "no job after the first reached the engine"
    assert len(harness.runner.calls) == 1
    assert [job.id for job in await harness.database.jobs.recent(user_id=double.user.id)] == [
        job_id
    ]


async def test_bad_channel_role_and_size_input_say_what_is_wrong_and_what_is_allowed(harness):
    double = harness.double
    hidden = double.add_text_channel(double.guild, "staff", bot_permissions=0)
    other_guild = double.add_guild("Elsewhere")
    foreign = double.add_role(other_guild, "Stranger")
    booster = double.add_role(double.guild, "Booster")
    await double.push_guilds()

    cannot_see = await admin_says(double, "server", {"channel": hidden}, "channel deny")
    assert f"I can't see <#{hidden.id}>" in cannot_see and "View Channel" in cannot_see
    unknown = await admin_says(double, "server", {"role": foreign, "max_count": 2}, "limits")
    assert "I don't know the role" in unknown and "Pick one of this server's roles" in unknown
    for size, expected in (
        ("huge", "'huge' is not a size. Give the longer side in pixels, 64 to 2048"),
        ("4096x512", "4096 px is out of range; allowed: 64 to 2048 pixels"),
    ):
        text = await admin_says(double, "server", {"role": booster, "max_size": size}, "limits")
        assert expected in text
    style = await admin_says(
        double, "server", {"channel": double.channel, "style": "nope"}, "channel preset"
    )
    assert "unknown style 'nope'" in style and "/styles" in style
    preset = await admin_says(
        double, "server", {"channel": double.channel, "preset": "nope"}, "channel preset"
    )
    assert "no preset called 'nope' among this server's presets" in preset
    thread = double.add_thread(double.channel, "ideas")
    await double.push_guilds()
    in_thread = await admin_says(
        double, "server", {"channel": thread, "style": "ink"}, "channel preset"
    )
    assert f"<#{thread.id}> is a thread; set the default of its channel" in in_thread
    assert await harness.database.limits.roles(double.guild.id) == []
    assert await harness.database.limits.channels(double.guild.id) == []


async def test_role_limits_apply_per_member_the_most_generous_role_wins(harness):
    double = harness.double
    booster, patron = (
        double.add_role(double.guild, "Booster"),
        double.add_role(double.guild, "Patron"),
    )
    boosted = double.add_user("boosted")
    double.give_role(double.guild, boosted, booster)
    double.give_role(double.guild, boosted, patron)
    await double.push_guilds()

    await admin_says(double, "server", {"max_count": 1}, "settings")
    everyone = double.guild.roles[double.guild.id]  # every member's baseline
    await admin_says(double, "server", {"role": everyone, "max_size": "256"}, "limits")
    saved = await admin_says(
        double, "server", {"role": booster, "max_count": 2, "max_size": "512"}, "limits"
    )
    assert "Saved." in saved and "2 images per job" in saved
    await admin_says(double, "server", {"role": patron, "max_count": 3}, "limits")

    plain = await double.invoke("imagine", {"prompt": "x", "count": 2})
    assert "at most 1 images per job here (this server's setting)" in await reply_of(
        plain, timeout=30
    )
    more = await double.invoke("imagine", {"prompt": "x", "count": 4}, user=boosted)
    assert "at most 3 images per job here (the @Patron role)" in await reply_of(more, timeout=30)

    mine = await reply_of(await double.invoke("quota", {}))
    theirs = await reply_of(await double.invoke("quota", {}, user=boosted))
    assert "images per job: 1 (this server's setting)" in mine
    assert "images per job: 3 (the @Patron role)" in theirs
    assert "longer side: 256 px (the @everyone role)" in mine
    assert "longer side: 512 px (the @Booster role)" in theirs

    shown = await admin_says(double, "server", {"role": patron, "action": "show"}, "limits")
    assert shown == "• @Patron: 3 images per job"
    listed = await admin_says(double, "server", {"action": "show"}, "limits")
    assert "@everyone: 256 px longer side" in listed and "@Patron" in listed
    assert "@Booster: 2 images per job, 512 px longer side" in listed
    cleared = await admin_says(double, "server", {"role": patron, "action": "clear"}, "limits")
    assert cleared == "Cleared every limit of @Patron."
    again = await double.invoke("imagine", {"prompt": "x", "count": 3}, user=boosted)
    assert "at most 2 images per job here (the @Booster role)" in await reply_of(again, timeout=30)
    assert engine_jobs(harness) == 0

    # Within the role's limit the job runs, and the precedence under it names the role.
    allowed = await double.invoke("imagine", {"prompt": "x", "count": 2}, user=boosted)
    result = await allowed.wait_for_followup(timeout=30)
    assert len(result.attachments) == 2
    assert "count limit from role @Booster" in result.content


async def test_a_quota_counts_admitted_images_refuses_at_zero_and_resets_at_the_hour(harness):
    double = harness.double
    clock = SettableClock(datetime(2026, 11, 30, 5, 30, tzinfo=UTC))
    harness.bot.admissions.members.quotas.clock = clock
    set_quota = await admin_says(double, "server", {"daily_images": 2, "reset_hour": 6}, "quota")
    assert "images per member per day: 2" in set_quota and "06:00 UTC" in set_quota

    job = await double.invoke("imagine", {"prompt": "a fox", "count": 2})
    result = await job.wait_for_followup(timeout=30)
    assert len(result.attachments) == 2
    spent = await double.invoke("imagine", {"prompt": "a fox"})
    refusal = await reply_of(spent, timeout=30)
    assert "used all 2 of today's images on this server (this server's setting)" in refusal
    reset_at = int(datetime(2026, 11, 30, 6, tzinfo=UTC).timestamp())
    assert f"resets at 06:00 UTC (<t:{reset_at}:R>)" in refusal
    assert "**0** of 2 images left today" in await reply_of(await double.invoke("quota", {}))

    clock.now = datetime(2026, 11, 30, 5, 59, 59, tzinfo=UTC)
    assert "used all 2" in await reply_of(await double.invoke("imagine", {"prompt": "x"}), 30)
    clock.now += timedelta(seconds=1)  # 06:00: a new day
    assert "**2** of 2 images left today" in await reply_of(await double.invoke("quota", {}))
    too_many = await reply_of(await double.invoke("imagine", {"prompt": "x", "count": 3}), 30)
    assert "This job makes 3 images, and you have 2 of your 2 left today" in too_many
    sweep = await reply_of(
        await double.invoke("sweep", {"prompt": "a {red, blue, green} kite"}), 30
    )
    assert "This job makes 3 images, and you have 2 of your 2 left today" in sweep
    await harness.idle()
    assert engine_jobs(harness) == 1, "only the admitted job reached the engine"


async def test_a_channel_default_preset_applies_there_and_says_so(harness):
    double = harness.double
    await admin_says(double, "server", {"name": "tiny-steps", "steps": 2}, "preset")
    saved = await admin_says(
        double, "server", {"channel": double.channel, "preset": "tiny-steps"}, "channel preset"
    )
    assert f"<#{double.channel.id}>: default preset 'tiny-steps'" in saved
    job = await double.invoke("imagine", {"prompt": "a fox"})
    result = await job.wait_for_followup(timeout=30)
    await harness.idle()
    assert "2 steps" in result.content and "steps from channel default" in result.content


@pytest.mark.parametrize("bot_overrides", [{"lcm_queue_per_user": 1}])
async def test_a_role_queue_cap_above_the_bots_default_admits_that_many_waiting_jobs(harness):
    double, runner = harness.double, harness.runner
    patron = double.add_role(double.guild, "Patron")
    double.give_role(double.guild, double.user, patron)
    await double.push_guilds()
    saved = await admin_says(double, "server", {"role": patron, "max_queued": 3}, "limits")
    assert "Saved." in saved and "3 jobs waiting" in saved

    runner.gate.clear()  # the worker is busy with the owner's job: the member's jobs wait
    busy = await double.invoke("imagine", {"prompt": "GATE a long render"}, user=double.owner)
    await busy.wait_for_original(lambda m: "Rendering" in (m.content or ""), timeout=30)
    for i in range(3):
        job = await double.invoke("imagine", {"prompt": f"waiting {i}"})
        queued = await job.wait_for_original(lambda m: bool(m.content), timeout=30)
        assert "Queued" in queued.content, queued.content
    assert len(harness.engine.waiting_jobs(double.user.id)) == 3
    fourth = await reply_of(await double.invoke("imagine", {"prompt": "one more"}), timeout=30)
    assert "You already have 3 jobs waiting (you may have 3 here)" in fourth
    assert "Cancelling" in await reply_of(await double.invoke("cancel"))
