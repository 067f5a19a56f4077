"""Injected faults: 429s discord.py retries deliver everything once; lost answers duplicate."""

from __future__ import annotations

import itertools

from tests.discord_double import DiscordDouble, Rule

from .sample_bot import SampleBot


async def test_rate_limits_at_30_percent_deliver_each_message_once(
    double: DiscordDouble, bot: SampleBot
) -> None:
    double.inject_rate_limits(0.3, seed=7)
    record = await double.invoke("burst", {"count": 6})
    await double.wait_until(lambda: "burst" in bot.finished, timeout=20)

    assert bot.errors == []
    assert len(double.faults) >= 5 and {f.status for f in double.faults} == {429}
    for call in (f.call for f in double.faults):
        # every rate-limited call was retried until it went through
        retries = [c for c in double.calls if (c.method, c.path) == (call.method, call.path)]
        assert retries[-1].status in (200, 204)
    runs = [
        len(list(group))
        for injected, group in itertools.groupby(double.calls, key=lambda c: c.injected)
        if injected
    ]
    assert max(runs) <= 2  # capped below discord.py's five tries

    parts = [m for m in record.followups]
    assert [m.content for m in parts] == [f"part {i} done" for i in range(6)]
    for message in parts:
        edits = [v.via for v in message.history if v.via == "edit_webhook_message"]
        assert edits == ["edit_webhook_message"]
    contents = [m.content for m in double.messages_in(double.channel)]
    assert sorted(contents) == sorted([*(f"part {i} done" for i in range(6)), "burst done"])
    assert double.violations == []


async def test_lost_answer_after_processing_duplicates_a_follow_up(
    double: DiscordDouble, bot: SampleBot
) -> None:
    double.inject_server_errors(1.0, routes={"followup"}, after_processing=True)
    record = await double.invoke("once")
    await double.wait_until(lambda: "once" in bot.finished, timeout=10)
    assert [(f.status, f.processed) for f in double.faults] == [(502, True)]
    # discord.py retried the 502 after a second; Discord had already posted the first.
    assert [m.content for m in double.messages_in(double.channel)] == ["hello once"] * 2
    [violation] = double.take_violations(Rule.DUPLICATE)
    assert violation.interaction_id == record.id


async def test_global_rate_limit_is_answered_and_recorded(double: DiscordDouble) -> None:
    double.limits.global_rate = 2  # login alone makes four bot-token requests
    async with double.running(SampleBot(double.guild.id)) as bot:
        assert bot.is_ready()
    assert double.sync_count(double.guild) == 1 and double.sync_count() == 1
    taken = double.take_violations(Rule.GLOBAL_RATE)
    assert taken and all(v.status == 429 for v in taken)


async def test_cloudflare_ban_is_not_retried(double: DiscordDouble, bot: SampleBot) -> None:
    double.inject_rate_limits(1.0, routes={"followup"}, cloudflare=True)
    bot.gates["late"].set()
    await double.invoke("late")
    await double.wait_until(lambda: "late" in bot.finished)
    assert [(e.status, e.code) for e in bot.errors] == [(429, 0)]
    assert len(double.calls_to("followup")) == 1  # discord.py gave up at once
    await double.wait_for_message(double.channel, lambda m: "ready" in m.content)
    assert double.invalid_requests == 1


async def test_edits_faster_than_the_configured_pace(double: DiscordDouble, bot: SampleBot) -> None:
    double.limits.min_edit_interval = 1.0
    record = await double.invoke("render", {"prompt": "fast"})
    await double.wait_until(lambda: "render" in bot.finished)
    taken = double.take_violations(Rule.EDIT_TOO_FAST)
    # Resolving the placeholder is no edit; the two edits after it came within a second.
    assert [v.message_id for v in taken] == [record.original_id] * 2
