"""LimitsRepository and QuotaRepository on SQLite and PostgreSQL: roles, channels, daily quotas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.database import Database
from storage.errors import InvalidValue, PresetNotFound
from storage.models import ChannelAccess, PresetScope

GUILD = 900_000_000_000_000_001
OTHER_GUILD = 900_000_000_000_000_002
BOOSTER = 700_000_000_000_000_001
PATRON = 700_000_000_000_000_002
CHANNEL = 800_000_000_000_000_001
ALICE = 1_100_000_000_000_000_001
DAY = datetime(2026, 11, 30, 6, tzinfo=UTC)


async def test_role_limits_are_set_per_field_per_server_and_cleared(db: Database):
    await db.limits.set_role(GUILD, BOOSTER, cooldown_seconds=0, max_count=4)
    changed = await db.limits.set_role(GUILD, BOOSTER, daily_images=50, max_count=None)
    assert (changed.cooldown_seconds, changed.max_count, changed.daily_images) == (0, None, 50)
    await db.limits.set_role(GUILD, PATRON, max_side=1024)
    await db.limits.set_role(OTHER_GUILD, BOOSTER, max_steps=8)

    mine = await db.limits.roles(GUILD, [BOOSTER, PATRON, 1])
    assert [(r.role_id, r.daily_images, r.max_side) for r in mine] == [
        (BOOSTER, 50, None),
        (PATRON, None, 1024),
    ]
    assert [r.role_id for r in await db.limits.roles(GUILD)] == [BOOSTER, PATRON]
    assert await db.limits.clear_role(GUILD, BOOSTER)
    assert not await db.limits.clear_role(GUILD, BOOSTER)
    assert [r.role_id for r in await db.limits.roles(GUILD)] == [PATRON]
    assert [r.max_steps for r in await db.limits.roles(OTHER_GUILD)] == [8]


async def test_a_role_limit_out_of_range_says_what_is_allowed(db: Database):
    with pytest.raises(InvalidValue, match=r"max_count must be a whole number from 1 to 4, not 9"):
        await db.limits.set_role(GUILD, BOOSTER, max_count=9)
    with pytest.raises(InvalidValue, match=r"cooldown_seconds .* from 0 to 3600"):
        await db.limits.set_role(GUILD, BOOSTER, cooldown_seconds=-1)
    assert await db.limits.roles(GUILD) == []


async def test_channel_access_and_the_channel_default(db: Database):
    await db.limits.set_access(GUILD, CHANNEL, ChannelAccess.DENY)
    assert [(r.channel_id, r.access) for r in await db.limits.channels(GUILD)] == [
        (CHANNEL, ChannelAccess.DENY)
    ]
    assert await db.limits.channel_layer(GUILD, CHANNEL) is None

    await db.presets.upsert(PresetScope.SERVER, GUILD, "anime", {"steps": 6})
    await db.presets.upsert(PresetScope.USER, ALICE, "mine", {"steps": 2})
    with pytest.raises(PresetNotFound, match="among this server's presets"):
        await db.limits.set_channel_default(GUILD, CHANNEL, preset="mine", style=None)
    await db.limits.set_channel_default(GUILD, CHANNEL, preset="anime", style=None)
    layer = await db.limits.channel_layer(GUILD, CHANNEL)
    assert (layer.name, dict(layer.parameters)) == ("anime", {"steps": 6})
    # Setting the default keeps the access rule, and the other way round.
    await db.limits.set_access(GUILD, CHANNEL, ChannelAccess.ALLOW)
    assert (await db.limits.channel_layer(GUILD, CHANNEL)).name == "anime"
    assert (await db.limits.channels(GUILD))[0].access is ChannelAccess.ALLOW

    await db.limits.set_channel_default(GUILD, CHANNEL, preset=None, style="ink")
    layer = await db.limits.channel_layer(GUILD, CHANNEL)
    assert dict(layer.parameters) == {"styles": [{"name": "ink"}]}
    with pytest.raises(InvalidValue, match="a preset or a style, not both"):
        await db.limits.set_channel_default(GUILD, CHANNEL, preset="anime", style="ink")


async def test_deleting_a_channels_preset_clears_the_channel_default(db: Database):
    await db.presets.upsert(PresetScope.SERVER, GUILD, "anime", {"steps": 6})
    await db.limits.set_channel_default(GUILD, CHANNEL, preset="anime", style=None)
    await db.presets.delete(PresetScope.SERVER, GUILD, "anime")
    assert await db.limits.channel_layer(GUILD, CHANNEL) is None


async def test_a_quota_counts_refuses_past_the_limit_and_starts_again_each_period(db: Database):
    taken = [await db.quotas.take(GUILD, ALICE, n, limit=5, period_start=DAY) for n in (2, 2, 2)]
    assert [(t.granted, t.used) for t in taken] == [(True, 2), (True, 4), (False, 4)]
    assert (await db.quotas.take(GUILD, ALICE, 1, limit=5, period_start=DAY)).used == 5
    assert await db.quotas.used(GUILD, ALICE, DAY) == 5
    assert await db.quotas.used(OTHER_GUILD, ALICE, DAY) == 0

    await db.quotas.give_back(GUILD, ALICE, 3, period_start=DAY)
    assert await db.quotas.used(GUILD, ALICE, DAY) == 2

    tomorrow = DAY + timedelta(days=1)
    assert await db.quotas.used(GUILD, ALICE, tomorrow) == 0
    await db.quotas.give_back(GUILD, ALICE, 1, period_start=tomorrow)  # yesterday's: ignored
    assert (await db.quotas.take(GUILD, ALICE, 5, limit=5, period_start=tomorrow)).granted
    assert await db.quotas.used(GUILD, ALICE, DAY) == 5


async def test_quota_settings_default_to_none_at_midnight_and_check_their_range(db: Database):
    assert (s := await db.quotas.settings(GUILD)).daily_images is None and s.reset_hour == 0
    await db.quotas.set_settings(GUILD, daily_images=20)
    changed = await db.quotas.set_settings(GUILD, reset_hour=6)
    assert (changed.daily_images, changed.reset_hour) == (20, 6)
    with pytest.raises(InvalidValue, match=r"reset_hour .* 0 to 23, not 24"):
        await db.quotas.set_settings(GUILD, reset_hour=24)
    with pytest.raises(InvalidValue, match=r"daily_images .* from 1 to 10000"):
        await db.quotas.set_settings(GUILD, daily_images=0)
    cleared = await db.quotas.set_settings(GUILD, daily_images=None)
    assert (cleared.daily_images, cleared.reset_hour) == (None, 6)


async def test_images_given_back_after_a_reset_leave_the_new_day_alone(db: Database):
    assert (await db.quotas.take(GUILD, ALICE, 3, limit=5, period_start=DAY)).granted
    tomorrow = DAY + timedelta(days=1)
    assert (await db.quotas.take(GUILD, ALICE, 4, limit=5, period_start=tomorrow)).used == 4
    # A job admitted yesterday is refunded today: its images were yesterday's.
    await db.quotas.give_back(GUILD, ALICE, 3, period_start=DAY)
    assert await db.quotas.used(GUILD, ALICE, tomorrow) == 4
