"""The gateway: RESUME replays what a dropped connection missed; a dead session re-identifies."""

from __future__ import annotations

from tests.discord_double import DiscordDouble

from .sample_bot import SampleBot


async def test_dropped_connection_resumes_and_replays(
    double: DiscordDouble, bot: SampleBot
) -> None:
    await double.drop_gateway()
    # Dispatched while the bot is away: buffered in the session and replayed on RESUME.
    record = await double.invoke("ping")
    await record.wait_for_response()
    assert double.gateway.count("RESUME") == 1 and double.gateway.count("RESUMED") == 1
    assert double.gateway.count("IDENTIFY") == 1
    await double.wait_until(lambda: bot.finished == ["ping"])


async def test_invalid_session_makes_the_bot_identify_again(
    double: DiscordDouble, bot: SampleBot
) -> None:
    await double.drop_gateway(resumable=False)
    await double.wait_until(lambda: double.gateway.count("IDENTIFY") == 2)
    await double.wait_until_connected()
    assert double.gateway.count("INVALID_SESSION") == 1
    record = await double.invoke("ping")
    await record.wait_for_response()
    await double.wait_until(lambda: bot.finished == ["ping"])


async def test_reconnect_request_resumes(double: DiscordDouble, bot: SampleBot) -> None:
    await double.gateway.request_reconnect()
    await double.wait_until(lambda: double.gateway.count("RESUMED") == 1)
    record = await double.invoke("ping")
    await record.wait_for_response()
    assert double.gateway.count("IDENTIFY") == 1


async def test_world_changes_reach_the_bot_with_push_guilds(
    double: DiscordDouble, bot: SampleBot
) -> None:
    late = double.add_text_channel(double.guild, "added-later", nsfw=True)
    await double.push_guilds()
    await double.wait_until(lambda: bot.get_channel(late.id) is not None)
    record = await double.invoke("where", channel=late)
    await record.wait_for_response()
    assert bot.seen["where"]["nsfw"] is True
