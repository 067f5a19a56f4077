"""The prompt blocklist end to end: refused before any work, privately, logged once."""

from __future__ import annotations

import pytest

from bot.blocklist import MAX_RULES
from storage.models import BlockKind
from tests.bot.test_bot_policy import private_reply

OPERATOR_FILE = "# the operator's rules, for every server\nre:forbidden[0-9]+\n"


@pytest.fixture
def bot_overrides(tmp_path) -> dict:
    path = tmp_path / "blocklist.txt"
    path.write_text(OPERATOR_FILE, "utf-8")
    return {"lcm_blocklist_file": str(path)}


async def admin(double, subcommand: str, options: dict, *, group: str | None = None) -> str:
    """The server owner (Manage Server) runs /server <subcommand>; returns the private answer."""
    name = f"{group} {subcommand}" if group else subcommand
    record = await double.invoke("server", options, user=double.owner, subcommand=name)
    return await private_reply(record)


async def with_log_channel(double):
    log_channel = double.add_text_channel(double.guild, "mod-log")
    await double.push_guilds()
    text = await admin(double, "log-channel", {"channel": log_channel})
    assert "Moderators' log: <#" in text, text
    return log_channel


def entries(double, log_channel, kind: str) -> list:
    return [m for m in double.messages_in(log_channel) if kind in m.content]


async def test_a_blocked_prompt_costs_no_engine_job_one_private_refusal_and_one_log_entry(harness):
    double, engine = harness.double, harness.engine
    log_channel = await with_log_channel(double)
    assert "Added the word `crème brûlée`" in await admin(
        double, "add", {"pattern": "crème brûlée"}, group="blocklist"
    )
    assert "Added the regex" in await admin(
        double, "add", {"pattern": r"gr[ae]y\s*cats?", "kind": "regex"}, group="blocklist"
    )

    attempts = [
        {"prompt": "a CREME   BRULEE on a plate"},  # case, accents and spacing do not matter
        {"prompt": "a harbour", "negative": "Grey cats"},  # the negative prompt counts too
        {"prompt": "forbidden42 things"},  # the operator's file
    ]
    for options in attempts:
        record = await double.invoke("imagine", options)
        reply = await private_reply(record)
        assert "A server rule blocked this prompt" in reply
        assert "brulee" not in reply.casefold() and "gr[ae]y" not in reply  # the rule unnamed
        assert record.followups == [], "nothing public"

    assert engine.metrics.jobs["submitted"] == 0, "no engine job"
    assert harness.runner.calls == []
    assert await harness.database.jobs.recent(user_id=double.user.id) == []
    blocked = entries(double, log_channel, "Blocked prompt")
    assert len(blocked) == 3, [m.content for m in double.messages_in(log_channel)]
    assert "CREME   BRULEE" in blocked[0].content and f"<@{double.user.id}>" in blocked[0].content
    assert "Grey cats" in blocked[1].content
    # Words are whole words: a prompt that only contains the letters runs.
    record = await double.invoke("imagine", {"prompt": "a grey dog, cremebrulee", "steps": 1})
    await record.wait_for_followup(timeout=30)
    await harness.idle()
    assert engine.metrics.jobs["submitted"] == 1
    assert len(entries(double, log_channel, "Blocked prompt")) == 3


async def test_buttons_modals_and_sweeps_meet_the_blocklist_too(harness):
    double, engine = harness.double, harness.engine
    record = await double.invoke("imagine", {"prompt": "a small boat", "steps": 1})
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    job_id = (await harness.database.jobs.recent(user_id=double.user.id))[0].id
    await admin(double, "add", {"pattern": "boat"}, group="blocklist")
    submitted = engine.metrics.jobs["submitted"]

    reroll = await double.click(result, f"lcm:reroll:{job_id}")
    assert "A server rule blocked this prompt" in await private_reply(reroll)
    remix = await double.click(result, f"lcm:remix:{job_id}")
    await remix.wait_for_response()
    submitted_remix = await double.submit_modal(remix, {"prompt": "a BOAT", "negative_prompt": ""})
    assert "A server rule blocked this prompt" in await private_reply(submitted_remix)
    sweep = await double.invoke(
        "sweep", {"prompt": "a {car, boat}", "axis": "seed", "values": "1, 2"}
    )
    assert "A server rule blocked this prompt" in await private_reply(sweep)
    assert engine.metrics.jobs["submitted"] == submitted, "no engine job from any of them"


async def test_a_malformed_pattern_is_refused_at_add_saying_what_is_wrong(harness):
    double = harness.double
    text = await admin(double, "add", {"pattern": "(a+", "kind": "regex"}, group="blocklist")
    assert "not valid (missing ): (a+)" in text and "allowed: RE2 syntax" in text
    text = await admin(double, "add", {"pattern": r"(a)\1", "kind": "regex"}, group="blocklist")
    assert "invalid escape sequence" in text and "without backreferences" in text
    listed = await admin(double, "list", {}, group="blocklist")
    assert "forbidden[0-9]+` (operator file blocklist.txt)" in listed
    assert "(a+" not in listed, "nothing malformed was kept"


async def test_only_manage_server_changes_or_sees_the_blocklist(harness):
    double = harness.double
    for subcommand, options in (("add", {"pattern": "x"}), ("list", {})):
        record = await double.invoke(
            "server",
            options,
            subcommand=f"blocklist {subcommand}",
            ignore_default_permissions=True,
        )
        assert "You need the Manage Server permission" in await private_reply(record)
    assert await harness.database.moderation.blocklist(double.guild.id) == []


async def test_a_log_channel_the_bot_cannot_see_or_post_in_is_refused(harness):
    double = harness.double
    hidden = double.add_text_channel(double.guild, "staff", bot_permissions=0)
    read_only = double.add_text_channel(double.guild, "read-only", bot_permissions=1024)
    await double.push_guilds()
    text = await admin(double, "log-channel", {"channel": hidden})
    assert "I can't see #staff. Grant me View Channel, Send Messages and Attach Files" in text
    text = await admin(double, "log-channel", {"channel": read_only})
    assert "grant me Send Messages, Attach Files there" in text, text
    settings = await harness.database.moderation.settings(double.guild.id)
    assert settings.log_channel_id is None


async def test_a_blocklist_too_long_for_a_message_comes_whole_as_a_file(harness):
    double, database = harness.double, harness.database
    patterns = [f"{n:02d}-" + "kraken" * 32 for n in range(30)]  # ~200 characters each
    for pattern in patterns:
        await database.moderation.add_block(
            double.guild.id, BlockKind.WORD, pattern, added_by=double.owner.id, limit=MAX_RULES
        )
    record = await double.invoke("server", {}, user=double.owner, subcommand="blocklist list")
    reply = await record.wait_for_original(lambda m: bool(m.content), timeout=30)
    assert reply.ephemeral and len(reply.content) <= 2000
    operator = len(harness.bot.admissions.prompt_screen.operator_rules)
    assert f"{operator + len(patterns)} rules" in reply.content, reply.content
    [listing] = reply.attachments
    assert listing.filename == "blocklist.txt"
    text = listing.data.decode()
    assert all(f"word {pattern} (this server" in text for pattern in patterns)
    assert "forbidden[0-9]+ (operator file blocklist.txt)" in text


async def test_a_blocked_attempt_costs_the_cooldown_so_nobody_floods_the_log(harness):
    double = harness.double
    log_channel = await with_log_channel(double)
    await admin(double, "add", {"pattern": "crème brûlée"}, group="blocklist")
    assert "cooldown: 3600 s" in await admin(double, "settings", {"cooldown": 3600})

    blocked = await private_reply(await double.invoke("imagine", {"prompt": "crème brûlée"}))
    assert "A server rule blocked this prompt" in blocked
    for options in ({"prompt": "crème brûlée"}, {"prompt": "a harbour"}):
        again = await private_reply(await double.invoke("imagine", options))
        assert "Slow down a little" in again
    assert len(entries(double, log_channel, "Blocked prompt")) == 1
    assert harness.engine.metrics.jobs["submitted"] == 0
