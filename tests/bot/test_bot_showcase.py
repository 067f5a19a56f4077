"""The Showcase button: the owner posts a result to the showcase channel once per result."""

from __future__ import annotations

from tests.bot.test_bot_blocklist import admin
from tests.bot.test_bot_policy import private_reply


async def press(double, result, job_id: int, user=None) -> str:
    record = await double.click(result, f"lcm:showcase:{job_id}", user=user)
    return await private_reply(record)


async def test_showcase_posts_once_with_credit_and_a_link_back(harness):
    double, database = harness.double, harness.database
    record = await double.invoke("imagine", {"prompt": "a kite", "count": 2, "steps": 1})
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    job_id = (await database.jobs.recent(user_id=double.user.id))[0].id

    assert "no showcase channel" in await press(double, result, job_id)
    showcase = double.add_text_channel(double.guild, "showcase")
    await double.push_guilds()
    assert "Showcase channel: <#" in await admin(double, "showcase-channel", {"channel": showcase})

    stranger = double.add_user("stranger")
    double.add_member(double.guild, stranger)
    await double.push_guilds()
    assert "Only the person who made this" in await press(double, result, job_id, stranger)
    assert double.messages_in(showcase) == []

    answer = await press(double, result, job_id)
    assert "Posted to the showcase" in answer
    [posted] = double.messages_in(showcase)
    assert f"by <@{double.user.id}>" in posted.content and "a kite" in posted.content
    link = f"https://discord.com/channels/{double.guild.id}/{double.channel.id}/{result.id}"
    assert link in posted.content
    assert [a.data for a in posted.attachments] == [a.data for a in result.attachments]
    assert double.pings == [], "credit without a ping"

    again = await press(double, result, job_id)
    assert "already in the showcase" in again and str(posted.id) in again
    assert len(double.messages_in(showcase)) == 1
