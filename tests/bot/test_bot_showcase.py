"""The Showcase button (its owner) and ⭐ reactions post a result to the showcase, once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from storage.models import ShowcasePost, utcnow
from storage.repositories.moderation import SHOWCASE_CLAIM_EXPIRES
from tests.bot.test_bot_blocklist import admin
from tests.bot.test_bot_policy import private_reply
from tests.discord_double.reactions import react


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


async def test_enough_star_reactions_showcase_a_result_once(harness):
    double, database = harness.double, harness.database
    showcase = double.add_text_channel(double.guild, "showcase")
    fans = [double.add_user(f"fan{n}") for n in range(4)]
    for fan in fans:
        double.add_member(double.guild, fan)
    await double.push_guilds()
    await admin(double, "showcase-channel", {"channel": showcase})
    assert "3 ⭐ reactions" in await admin(double, "showcase-reactions", {"count": 3})
    record = await double.invoke("imagine", {"prompt": "a comet", "steps": 1})
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()

    listener = harness.bot.get_cog("ShowcaseReactions")

    async def star(fan, emoji: str = "⭐") -> None:
        """A reaction, then the bot's handling of it to the end (a post included, if any)."""
        handled = listener.handled
        await react(double, result, emoji, fan)
        await double.wait_until(lambda: listener.handled > handled, 10, "the reaction handled")

    await star(fans[0], "👍")  # another emoji counts for nothing
    await star(fans[0])
    await star(fans[1])
    assert double.messages_in(showcase) == []
    await star(fans[2])
    [posted] = double.messages_in(showcase)
    await star(fans[3])  # past the count: still one post
    assert double.messages_in(showcase) == [posted]
    assert f"by <@{double.user.id}>" in posted.content and str(result.id) in posted.content
    job_id = (await database.jobs.recent(user_id=double.user.id))[0].id
    assert "already in the showcase" in await press(double, result, job_id)


async def test_a_claim_left_by_a_dead_process_is_posted_by_a_later_press(harness):
    double, database = harness.double, harness.database
    showcase = double.add_text_channel(double.guild, "showcase")
    await double.push_guilds()
    await admin(double, "showcase-channel", {"channel": showcase})
    record = await double.invoke("imagine", {"prompt": "a kite", "steps": 1})
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    job_id = (await database.jobs.recent(user_id=double.user.id))[0].id
    # A press claimed the post, and the process died before posting or recording it.
    assert await database.moderation.claim_showcase(job_id, double.guild.id, showcase.id)
    assert "being posted" in await press(double, result, job_id)
    async with database.sessions() as session, session.begin():
        await session.execute(
            update(ShowcasePost)
            .where(ShowcasePost.job_id == job_id)
            .values(created_at=utcnow() - SHOWCASE_CLAIM_EXPIRES - timedelta(seconds=1))
        )
    assert "Posted to the showcase" in await press(double, result, job_id)
    [posted] = double.messages_in(showcase)
    assert posted.nonce == f"lcm-show-{job_id}", "the nonce an earlier try would have used"
    assert "already in the showcase" in await press(double, result, job_id)
