"""Every limit broken by the bot gets Discord's status and code, and a violation to assert on."""

from __future__ import annotations

import discord
import pytest

from tests.discord_double import DiscordDouble, Rule, StrictViolation

from .sample_bot import SampleBot


def _errors(bot: SampleBot) -> list[tuple[int, int]]:
    return [(e.status, e.code) for e in bot.errors]


def _rules(double: DiscordDouble) -> list[Rule]:
    return [v.rule for v in double.take_violations()]


async def test_late_first_response_is_unknown_interaction(
    double: DiscordDouble, bot: SampleBot
) -> None:
    double.limits.response_deadline = 0.2
    record = await double.invoke("slow")
    await record.wait_deadline_passed()
    await record.wait_for_violation(Rule.NO_RESPONSE)
    bot.gates["slow"].set()
    await double.wait_until(lambda: "slow" in bot.finished)
    assert _errors(bot) == [(404, 10062)]
    assert record.response is None
    assert _rules(double) == [Rule.NO_RESPONSE, Rule.LATE_RESPONSE]


async def test_second_response_is_already_acknowledged(
    double: DiscordDouble, bot: SampleBot
) -> None:
    record = await double.invoke("twice")
    await double.wait_until(lambda: "twice" in bot.finished)
    assert _errors(bot) == [(400, 40060)]
    assert record.original is not None and record.original.content == "first"
    assert _rules(double) == [Rule.DOUBLE_ACK]


async def test_file_over_the_interactions_upload_limit(
    double: DiscordDouble, bot: SampleBot
) -> None:
    double.guild.upload_limit = 4096  # the bot reads it from the interaction at run time
    record = await double.invoke("big")
    assert record.payload["attachment_size_limit"] == 4096
    await double.wait_until(lambda: "big" in bot.finished)
    assert _errors(bot) == [(413, 40005)]
    assert record.original is not None
    assert record.original.content == "The GIF was too large to post."
    assert _rules(double) == [Rule.FILE_TOO_LARGE]


async def test_eleven_files_in_one_message(double: DiscordDouble, bot: SampleBot) -> None:
    record = await double.invoke("many")
    await double.wait_until(lambda: "many" in bot.finished)
    assert _errors(bot) == [(400, 30015)]
    assert record.original is not None and len(record.original.attachments) == 10
    assert _rules(double) == [Rule.TOO_MANY_FILES]


async def test_content_over_2000_characters(double: DiscordDouble, bot: SampleBot) -> None:
    record = await double.invoke("long")
    await double.wait_until(lambda: "long" in bot.finished)
    assert _errors(bot) == [(400, 50035)]
    assert "In content: Must be 2000 or fewer in length." in bot.errors[0].text
    assert record.original is not None and len(record.original.content) == 2000
    assert _rules(double) == [Rule.CONTENT_TOO_LONG]


async def test_embeds_over_6000_characters(double: DiscordDouble, bot: SampleBot) -> None:
    record = await double.invoke("wordy")
    await double.wait_until(lambda: "wordy" in bot.finished)
    assert _errors(bot) == [(400, 50035)]
    assert record.original is not None and len(record.original.embeds) == 1
    assert _rules(double) == [Rule.EMBEDS_TOO_LONG]


async def test_echoed_everyone_is_a_ping_violation(double: DiscordDouble, bot: SampleBot) -> None:
    record = await double.invoke("echo", {"text": "@everyone look at this"})
    await double.wait_until(lambda: "echo" in bot.finished)
    assert record.original is not None  # delivered: Discord would have pinged everyone
    assert [(p.kind, p.message_id) for p in double.pings] == [("everyone", record.original_id)]
    [violation] = double.take_violations(Rule.PING)
    assert violation.interaction_id == record.id and "absent" in violation.message

    target = double.add_user("victim")
    await double.invoke("echo", {"text": f"hi <@{target.id}>"})
    await double.wait_until(lambda: bot.finished.count("echo") == 2)
    assert [(p.kind, p.target) for p in double.pings][1:] == [("user", target.id)]
    assert double.violations == []  # a user ping is counted, not a violation


async def test_follow_up_after_the_token_expired(double: DiscordDouble, bot: SampleBot) -> None:
    double.limits.token_lifetime = 0.3
    record = await double.invoke("late")
    await record.wait_for_response()
    await record.wait_token_expired()
    bot.gates["late"].set()
    await double.wait_until(lambda: "late" in bot.finished)
    assert _errors(bot) == [(401, 50027)]
    fallback = await double.wait_for_message(double.channel, lambda m: "ready" in m.content)
    assert fallback.interaction_id is None  # a plain channel message
    assert [(p.kind, p.target) for p in double.pings] == [("user", double.user.id)]
    assert _rules(double) == [Rule.TOKEN_EXPIRED]


async def test_edit_after_the_user_deleted_the_message(
    double: DiscordDouble, bot: SampleBot
) -> None:
    record = await double.invoke("progress")
    message = await record.wait_for_followup()
    await double.delete_message(message)
    assert double.gateway.count("MESSAGE_DELETE") == 1
    bot.gates["progress"].set()
    await double.wait_until(lambda: "progress" in bot.finished)
    assert _errors(bot) == [(404, 10008)]
    assert [v.via for v in message.history] == ["callback", "followup"]
    [violation] = double.take_violations(Rule.UNKNOWN_MESSAGE)
    assert violation.message_id == message.id


async def test_follow_up_before_acknowledging(double: DiscordDouble, bot: SampleBot) -> None:
    await double.invoke("eager")
    await double.wait_until(lambda: "eager" in bot.finished)
    assert _errors(bot) == [(404, 10015)]
    assert _rules(double) == [Rule.NOT_ACKNOWLEDGED]


async def test_channel_message_without_attach_files(double: DiscordDouble) -> None:
    no_files = discord.Permissions(
        view_channel=True, send_messages=True, use_application_commands=True
    ).value
    quiet = double.add_text_channel(double.guild, "quiet", bot_permissions=no_files)
    async with double.running(SampleBot(double.guild.id)) as bot:
        await double.invoke("post", channel=quiet)
        await double.wait_until(lambda: "post" in bot.finished)
    # app_permissions and discord.py's own overwrite arithmetic agree with the channel.
    assert bot.seen["post"] == {"app_attach_files": False, "cached_attach_files": False}
    assert _errors(bot) == [(403, 50013)]
    assert _rules(double) == [Rule.MISSING_PERMISSIONS]


async def test_unknown_route_is_a_404_and_recorded(double: DiscordDouble, bot: SampleBot) -> None:
    await double.invoke("guildinfo")
    await double.wait_until(lambda: "guildinfo" in bot.finished)
    assert _errors(bot) == [(404, 0)]
    assert [c.path for c in double.unexpected_calls] == [f"/guilds/{double.guild.id}"]
    assert _rules(double) == [Rule.UNEXPECTED_ROUTE]


async def test_privileged_intents_are_refused(double: DiscordDouble) -> None:
    greedy = SampleBot(double.guild.id)
    greedy._connection._intents = discord.Intents.all()  # as if built with Intents.all()
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with double.running(greedy):
            pass


async def test_bad_token_fails_login(double: DiscordDouble) -> None:
    client = SampleBot(double.guild.id)
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()
    assert _rules(double) == [Rule.UNAUTHORIZED]


async def test_untaken_violations_fail_the_test_on_exit() -> None:
    with pytest.raises(StrictViolation, match="no_response"):
        async with DiscordDouble() as double:
            double.limits.response_deadline = 0.05
            async with double.running(SampleBot(double.guild.id)) as bot:
                record = await double.invoke("slow")
                await record.wait_for_violation(Rule.NO_RESPONSE)
                bot.gates["slow"].set()
                await double.wait_until(lambda: "slow" in bot.finished)
            double.take_violations(Rule.LATE_RESPONSE)
