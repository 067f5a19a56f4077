"""The defer comes before any database write: commands are acknowledged while writes are locked."""

from __future__ import annotations

import asyncio
import sqlite3

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
