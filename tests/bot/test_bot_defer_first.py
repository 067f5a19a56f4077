"""The defer comes before any database write: commands are acknowledged while writes are locked."""

from __future__ import annotations

import asyncio
import sqlite3

from storage.models import PresetScope

USERS = 50


async def test_fifty_commands_are_deferred_while_the_database_write_lock_is_held(
    harness, database_url
):
    double = harness.double
    users = [double.add_user(f"artist{i}") for i in range(USERS)]
    for user in users:
        double.add_member(double.guild, user)
    await double.push_guilds()

    # Another writer holds SQLite's write lock: any command that writes before deferring stalls.
    path = database_url.split("///", 1)[1]
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        records = await asyncio.gather(
            *(
                double.invoke("imagine", {"prompt": f"picture {i}"}, user=user)
                for i, user in enumerate(users)
            )
        )
        responses = await asyncio.gather(*(r.wait_for_response(timeout=10) for r in records))
        delays = sorted(response.delay for response in responses)
        print(f"\ndefer delays under a held write lock: max {delays[-1] * 1000:.0f} ms")
        assert all(response.type == 5 for response in responses)
        assert delays[-1] < double.limits.response_deadline, delays[-1]
        journaled = await harness.database.jobs.recent(guild_id=double.guild.id, limit=100)
        assert journaled == [], "nothing could be written while the lock was held"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await asyncio.gather(*(r.wait_for_followup(timeout=120) for r in records))
    await harness.idle()


async def test_server_preset_and_quota_commands_are_deferred_while_the_write_lock_is_held(
    harness, database_url
):
    double, database = harness.double, harness.database
    guild_id, deadline = double.guild.id, double.limits.response_deadline
    everyone = double.guild.roles[guild_id]
    # (command, subcommand, options, who, what its answer says once the write went through)
    commands = [
        ("server", "settings", {"cooldown": 7}, double.owner, "• cooldown: 7 s"),
        ("server", "blocklist add", {"pattern": "kraken"}, double.owner, "Added the word `kraken`"),
        ("server", "limits", {"role": everyone, "max_count": 2}, double.owner, "2 images per job"),
        ("server", "channel allow", {"channel": double.channel}, double.owner, "allowed"),
        ("server", "quota", {"daily_images": 5}, double.owner, "images per member per day: 5"),
        ("server", "preset", {"name": "house", "steps": 2}, double.owner, "• steps: 2"),
        ("preset", "save", {"name": "mine", "steps": 3}, double.user, "• steps: 3"),
        ("quota", None, {}, double.user, "Your limits here:"),
    ]

    path = database_url.split("///", 1)[1]
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        records = [
            await double.invoke(name, options, subcommand=sub, user=who)
            for name, sub, options, who, _ in commands
        ]
        # The lock is held past every deadline: only an answer sent before the write is in time.
        await records[-1].wait_deadline_passed(timeout=deadline + 5)
        late = [
            (name, sub, record.response and record.response.delay)
            for (name, sub, *_), record in zip(commands, records, strict=True)
            if record.response is None or record.response.delay >= deadline
        ]
        assert late == [], f"not acknowledged within {deadline} s under a held write lock: {late}"
        assert [record.response.type for record in records] == [5] * len(records)
        assert not any(record.violations for record in records)
        settings = await database.guilds.get(guild_id)
        assert settings.cooldown_seconds is None, "nothing could be written while the lock was held"
        assert await database.moderation.blocklist(guild_id) == []
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    for (name, sub, _, _, says), record in zip(commands, records, strict=True):
        answer = await record.wait_for_followup(timeout=30)
        assert answer.ephemeral and says in answer.content, (name, sub, answer.content)
        assert answer.id == record.original_id, "the answer replaces the thinking placeholder"
        assert len(record.followup_ids) == 1 and not record.violations
    assert (await database.guilds.get(guild_id)).cooldown_seconds == 7
    assert [rule.pattern for rule in await database.moderation.blocklist(guild_id)] == ["kraken"]
    assert [(row.role_id, row.max_count) for row in await database.limits.roles(guild_id)] == [
        (everyone.id, 2)
    ]
    assert [rule.channel_id for rule in await database.limits.channels(guild_id)] == [
        double.channel.id
    ]
    assert (await database.quotas.settings(guild_id)).daily_images == 5
    assert [p.name for p in await database.presets.list(PresetScope.SERVER, guild_id)] == ["house"]
    assert [p.name for p in await database.presets.list(PresetScope.USER, double.user.id)] == [
        "mine"
    ]
