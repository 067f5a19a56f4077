"""Moderation storage on SQLite and PostgreSQL: channels, blocklist, log outbox, showcase claims."""

from __future__ import annotations

import asyncio

import pytest

from storage.database import Database
from storage.errors import InvalidValue
from storage.models import BlockKind, JobStatus
from storage.repositories.moderation import SHOWCASE_CLAIM_EXPIRES, ModerationRepository
from tests.storage.test_jobs import Clock

GUILD = 900_000_000_000_000_001
ADMIN = 1_100_000_000_000_000_001
CHANNEL = 800_000_000_000_000_001


async def test_channels_are_set_with_who_set_them_and_turned_off(db: Database):
    assert (await db.moderation.settings(GUILD)).log_channel_id is None
    await db.moderation.set_channel(GUILD, "log", CHANNEL, set_by=ADMIN)
    await db.moderation.set_channel(GUILD, "showcase", CHANNEL + 1, set_by=ADMIN + 1)
    settings = await db.moderation.settings(GUILD)
    assert (settings.log_channel_id, settings.log_channel_set_by) == (CHANNEL, ADMIN)
    assert (settings.showcase_channel_id, settings.showcase_channel_set_by) == (
        CHANNEL + 1,
        ADMIN + 1,
    )
    await db.moderation.set_channel(GUILD, "log", None, set_by=ADMIN)
    assert (await db.moderation.settings(GUILD)).log_channel_id is None
    with pytest.raises(InvalidValue, match="one of log, showcase"):
        await db.moderation.set_channel(GUILD, "audit", CHANNEL, set_by=ADMIN)


async def test_blocklist_rules_are_kept_once_and_capped(db: Database):
    assert await db.moderation.add_block(GUILD, BlockKind.WORD, "kraken", added_by=ADMIN, limit=2)
    assert not await db.moderation.add_block(
        GUILD, BlockKind.WORD, "kraken", added_by=ADMIN, limit=2
    )
    assert await db.moderation.add_block(GUILD, BlockKind.REGEX, "kraken", added_by=ADMIN, limit=2)
    with pytest.raises(InvalidValue, match="2 blocklist rules, the most allowed"):
        await db.moderation.add_block(GUILD, BlockKind.WORD, "squid", added_by=ADMIN, limit=2)
    rules = await db.moderation.blocklist(GUILD)
    assert [(r.kind, r.pattern, r.added_by) for r in rules] == [
        (BlockKind.WORD, "kraken", ADMIN),
        (BlockKind.REGEX, "kraken", ADMIN),
    ]
    assert await db.moderation.blocklist(GUILD + 1) == []
    assert await db.moderation.remove_block(GUILD, "kraken") == 2
    assert await db.moderation.blocklist(GUILD) == []


async def test_a_log_event_is_journaled_once_and_marked_when_posted(db: Database):
    entry = await db.mod_log.record(
        guild_id=GUILD, channel_id=CHANNEL, event_key="posted:7", content="a", thumbnail=b"png"
    )
    assert entry is not None and entry.posted_at is None
    again = await db.mod_log.record(
        guild_id=GUILD, channel_id=CHANNEL, event_key="posted:7", content="b"
    )
    assert again is None, "the same event keeps one entry"
    assert [e.id for e in await db.mod_log.pending()] == [entry.id]
    await db.mod_log.posted(entry.id, 12345)
    assert await db.mod_log.pending() == []
    [kept] = await db.mod_log.entries(GUILD)
    assert (kept.message_id, kept.content, kept.thumbnail) == (12345, "", None)


async def test_a_log_entry_is_given_up_after_its_tries(db: Database):
    entry = await db.mod_log.record(
        guild_id=GUILD, channel_id=CHANNEL, event_key="blocked:1", content="x"
    )
    assert not await db.mod_log.attempt_failed(entry.id, give_up_after=2)
    assert [e.id for e in await db.mod_log.pending()] == [entry.id]
    assert await db.mod_log.attempt_failed(entry.id, give_up_after=2)
    assert await db.mod_log.pending() == []


async def a_job(db: Database):
    return await db.jobs.record(
        user_id=ADMIN,
        channel_id=CHANNEL,
        guild_id=GUILD,
        command="imagine",
        parameters={"prompt": "x"},
        seeds=[1],
    )


async def test_two_showcase_presses_at_once_claim_one_post(db: Database):
    job = await a_job(db)
    claims = await asyncio.gather(
        *(db.moderation.claim_showcase(job.id, GUILD, CHANNEL) for _ in range(4))
    )
    assert sum(claim is not None for claim in claims) == 1
    await db.moderation.release_showcase(job.id)  # the post failed: a later press may try
    assert await db.moderation.claim_showcase(job.id, GUILD, CHANNEL) is not None
    await db.moderation.showcase_posted(job.id, 999)
    await db.moderation.release_showcase(job.id)  # posted: the claim stays
    assert (await db.moderation.showcase_post(job.id)).message_id == 999
    assert (await db.jobs.get(job.id)).status is JobStatus.QUEUED
    await db.jobs.delete(job.id)
    assert await db.moderation.showcase_post(job.id) is None, "gone with its job"


async def test_a_showcase_claim_left_by_a_dead_process_frees_itself(db: Database):
    """A claim whose post never got recorded (the process died, or recording failed) is taken
    again once it is older than SHOWCASE_CLAIM_EXPIRES, by exactly one of several presses; a
    recorded post is never taken again."""
    clock = Clock()
    moderation = ModerationRepository(db.sessions, clock=clock)
    job = await a_job(db)
    assert await moderation.claim_showcase(job.id, GUILD, CHANNEL) is not None
    # ... and the process dies before showcase_posted.
    clock.advance(SHOWCASE_CLAIM_EXPIRES.total_seconds() - 1)
    assert await moderation.claim_showcase(job.id, GUILD, CHANNEL) is None, "still posting"
    clock.advance(2)
    claims = await asyncio.gather(
        *(moderation.claim_showcase(job.id, GUILD, CHANNEL + 1) for _ in range(4))
    )
    [claim] = [c for c in claims if c is not None]
    assert (claim.channel_id, claim.message_id, claim.created_at) == (CHANNEL + 1, None, clock())
    assert await moderation.claim_showcase(job.id, GUILD, CHANNEL) is None, "claimed anew"
    await moderation.showcase_posted(job.id, 999)
    clock.advance(SHOWCASE_CLAIM_EXPIRES.total_seconds() * 10)
    assert await moderation.claim_showcase(job.id, GUILD, CHANNEL) is None, "posted: kept"
    assert (await moderation.showcase_post(job.id)).message_id == 999
