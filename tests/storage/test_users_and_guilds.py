"""UserRepository and GuildRepository on SQLite and PostgreSQL, including delete_user_data."""

from __future__ import annotations

from datetime import UTC

import pytest

from storage.database import Database
from storage.errors import InvalidValue, PresetNotFound
from storage.models import JobStatus, NsfwPolicy, PresetScope

ALICE = 1_100_000_000_000_000_001
BOB = 1_100_000_000_000_000_002
GUILD = 900_000_000_000_000_001
CHANNEL = 800_000_000_000_000_001


async def test_a_user_default_preset_is_one_of_their_own(db: Database):
    assert await db.users.get(ALICE) is None
    mine = await db.presets.upsert(PresetScope.USER, ALICE, "mine", {"steps": 6})
    await db.presets.upsert(PresetScope.USER, BOB, "bobs", {})
    await db.presets.upsert(PresetScope.SERVER, GUILD, "house", {})

    user = await db.users.upsert(ALICE, default_preset="mine")
    assert (user.id, user.default_preset_id) == (ALICE, mine.id)
    assert (await db.users.get(ALICE)).default_preset_id == mine.id
    for not_hers in ("bobs", "house", "missing"):
        with pytest.raises(PresetNotFound, match="among your presets"):
            await db.users.upsert(ALICE, default_preset=not_hers)
    assert (await db.users.get(ALICE)).default_preset_id == mine.id

    cleared = await db.users.upsert(ALICE, default_preset=None)
    assert cleared.default_preset_id is None


async def test_deleting_the_default_preset_clears_the_default(db: Database):
    await db.presets.upsert(PresetScope.USER, ALICE, "mine", {})
    await db.users.upsert(ALICE, default_preset="mine")
    await db.presets.upsert(PresetScope.SERVER, GUILD, "house", {})
    await db.guilds.upsert(GUILD, default_preset="house")

    await db.presets.delete(PresetScope.USER, ALICE, "mine")
    await db.presets.delete(PresetScope.SERVER, GUILD, "house")

    # ON DELETE SET NULL works only where foreign keys are enforced (SQLite needs the PRAGMA).
    assert (await db.users.get(ALICE)).default_preset_id is None
    assert (await db.guilds.get(GUILD)).default_preset_id is None


async def test_delete_user_data_removes_their_rows_and_nobody_elses(db: Database):
    await db.presets.upsert(PresetScope.USER, ALICE, "mine", {})
    await db.presets.upsert(PresetScope.USER, BOB, "bobs", {})
    await db.presets.upsert(PresetScope.SERVER, GUILD, "house", {})
    await db.users.upsert(ALICE, default_preset="mine")
    await db.users.upsert(BOB, default_preset="bobs")
    hers = [
        await db.jobs.record(
            user_id=ALICE,
            channel_id=CHANNEL,
            guild_id=GUILD,
            command="img2img",
            parameters={"prompt": f"cat {n}"},
            seeds=[n],
            inputs={"image": b"png bytes", "mask": b"mask bytes"},
        )
        for n in range(3)
    ]
    # Bob re-rolled one of Alice's images: his job stays, its parent link goes.
    his = await db.jobs.record(
        user_id=BOB,
        channel_id=CHANNEL,
        guild_id=GUILD,
        command="imagine",
        parameters={},
        seeds=[9],
        parent_id=hers[0].id,
    )

    deleted = await db.users.delete_user_data(ALICE)

    assert (deleted.presets, deleted.jobs, deleted.inputs, deleted.user) == (1, 3, 6, True)
    assert await db.users.get(ALICE) is None
    assert await db.presets.list(PresetScope.USER, ALICE) == []
    assert await db.jobs.recent(user_id=ALICE) == []
    for job in hers:
        assert await db.jobs.inputs(job.id) == {}
    assert (await db.users.get(BOB)).default_preset_id is not None
    assert await db.presets.get(PresetScope.SERVER, GUILD, "house") is not None
    survivor = await db.jobs.get(his.id)
    assert survivor is not None and survivor.parent_id is None
    again = await db.users.delete_user_data(ALICE)
    assert (again.presets, again.jobs, again.inputs, again.user) == (0, 0, 0, False)


async def test_a_server_that_changed_nothing_gets_the_defaults(db: Database):
    settings = await db.guilds.get(GUILD)

    assert settings.id == GUILD
    assert settings.nsfw_policy is NsfwPolicy.BLOCK
    assert settings.allowed_styles is None
    assert (settings.cooldown_seconds, settings.max_queued_per_user) == (None, None)
    assert (settings.max_count, settings.max_steps, settings.default_preset_id) == (
        None,
        None,
        None,
    )


async def test_guild_upsert_changes_only_what_it_is_given(db: Database):
    await db.presets.upsert(PresetScope.SERVER, GUILD, "house", {"steps": 4})
    first = await db.guilds.upsert(
        GUILD,
        nsfw_policy="spoiler",
        cooldown_seconds=30,
        max_queued_per_user=2,
        max_count=4,
        max_steps=6,
        default_preset="house",
        allowed_styles=["ink", "anime", "ink"],
    )
    assert first.nsfw_policy is NsfwPolicy.SPOILER
    assert first.allowed_styles == ["anime", "ink"]

    second = await db.guilds.upsert(GUILD, nsfw_policy=NsfwPolicy.ALLOW_IN_NSFW_CHANNELS)
    assert second.nsfw_policy is NsfwPolicy.ALLOW_IN_NSFW_CHANNELS
    assert (second.cooldown_seconds, second.max_queued_per_user, second.max_count) == (30, 2, 4)
    assert second.max_steps == 6 and second.allowed_styles == ["anime", "ink"]
    assert second.default_preset_id == first.default_preset_id is not None
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at and second.updated_at.tzinfo is UTC

    reset = await db.guilds.upsert(GUILD, max_steps=None, allowed_styles=None, default_preset=None)
    assert (reset.max_steps, reset.allowed_styles, reset.default_preset_id) == (None, None, None)
    assert reset.cooldown_seconds == 30
    stored = await db.guilds.get(GUILD)
    assert (stored.nsfw_policy, stored.max_steps, stored.cooldown_seconds) == (
        NsfwPolicy.ALLOW_IN_NSFW_CHANNELS,
        None,
        30,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nsfw_policy": "always"}, "nsfw_policy must be one of block, spoiler"),
        ({"cooldown_seconds": -1}, "cooldown_seconds must be a whole number of at least 0"),
        ({"max_steps": 0}, "max_steps must be a whole number of at least 1"),
        ({"max_count": 2.5}, "max_count must be a whole number"),
        ({"max_queued_per_user": True}, "max_queued_per_user must be a whole number"),
        ({"max_sweep_cells": 0}, "max_sweep_cells must be a whole number of at least 1"),
        ({"max_sweep_cells": 26}, "max_sweep_cells must be at most 25"),
        ({"allowed_styles": "ink"}, "allowed_styles must be a list"),
        ({"allowed_styles": ["ink", ""]}, "allowed_styles must be a list"),
    ],
)
async def test_guild_settings_are_checked_before_they_are_stored(db: Database, changes, message):
    with pytest.raises(InvalidValue, match=message):
        await db.guilds.upsert(GUILD, **changes)
    assert (await db.guilds.get(GUILD)).created_at is not None  # still the unsaved defaults
    assert await db.guilds.delete(GUILD) is False


async def test_a_server_default_must_be_one_of_its_own_presets(db: Database):
    await db.presets.upsert(PresetScope.USER, ALICE, "mine", {})
    await db.presets.upsert(PresetScope.SERVER, GUILD + 1, "elsewhere", {})
    for name in ("mine", "elsewhere", "missing"):
        with pytest.raises(PresetNotFound, match="among this server's presets"):
            await db.guilds.upsert(GUILD, default_preset=name)


async def test_forgetting_a_server_removes_its_settings_and_presets(db: Database):
    await db.presets.upsert(PresetScope.SERVER, GUILD, "house", {})
    await db.presets.upsert(PresetScope.USER, GUILD, "a user with the same id", {})
    await db.guilds.upsert(GUILD, max_steps=4)
    job = await db.jobs.record(
        user_id=ALICE,
        channel_id=CHANNEL,
        guild_id=GUILD,
        command="imagine",
        parameters={},
        seeds=[1],
    )

    assert await db.guilds.delete(GUILD) is True

    assert (await db.guilds.get(GUILD)).max_steps is None
    assert await db.presets.list(PresetScope.SERVER, GUILD) == []
    assert len(await db.presets.list(PresetScope.USER, GUILD)) == 1
    assert (await db.jobs.get(job.id)).status is JobStatus.QUEUED  # history belongs to the user
