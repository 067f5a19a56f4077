"""One bot process serves every shard when Discord asks for shards (AutoShardedBot)."""

from __future__ import annotations

from generation.engine import Engine, EngineConfig
from storage.database import Database
from tests.bot.conftest import TINY_PIXELS, RecordingRunner, bot_settings, make_bot
from tests.discord_double import DiscordDouble


async def test_one_bot_process_serves_both_shards_when_discord_asks_for_two(
    database_url, tiny_pipelines
):
    runner = RecordingRunner(tiny_pipelines)
    runner.gate.set()
    config = EngineConfig(batch_budget=8 * TINY_PIXELS, per_user_cap=50, global_cap=500)
    engine = Engine(lambda: runner, family=tiny_pipelines.family, config=config)
    database = Database.open(database_url)
    try:
        async with DiscordDouble(shards=2) as double, engine:
            # Guilds on both shards: a guild's shard is (id >> 22) % 2, from its snowflake's time.
            guilds = {double.gateway.shard_of(double.guild.id): double.guild}
            while len(guilds) < 2:
                guild = double.add_guild(f"guild {len(double.guilds)}")
                double.add_text_channel(guild, "general")
                double.add_member(guild, double.user)
                guilds.setdefault(double.gateway.shard_of(guild.id), guild)
            ids = ",".join(str(guild.id) for guild in guilds.values())
            settings = bot_settings(double, database_url, discord_guild_ids=ids)
            bot = make_bot(settings, engine, database, tiny_pipelines)
            async with double.running(bot, timeout=30):
                assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
                records = [
                    await double.invoke("imagine", {"prompt": f"a harbour {s}"}, guild=guild)
                    for s, guild in sorted(guilds.items())
                ]
                answers = [await record.wait_for_followup(timeout=60) for record in records]
                await bot.jobs.wait_idle()
            sessions = {session.shard for session in double.gateway.sessions.values()}
    finally:
        await database.close()
    assert sessions == {0, 1}, "both shards identified, from this one process"
    assert all(answer.attachments for answer in answers), [a.content for a in answers]
