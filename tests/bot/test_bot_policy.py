"""Rules checked before any GPU time (permissions, upload size, NSFW policy), and the sync."""

from __future__ import annotations

import contextlib

import discord
import pytest

from storage.models import NsfwPolicy
from tests.bot.conftest import png_bytes
from tests.discord_double.state import DEFAULT_BOT_PERMISSIONS


async def private_reply(record, timeout: float = 30.0) -> str:
    reply = await record.wait_for_original(lambda m: bool(m.content), timeout=timeout)
    assert reply.ephemeral
    return reply.content


async def test_commands_sync_to_the_configured_guild_only_and_every_option_is_described(harness):
    double = harness.double
    assert double.sync_count(double.guild) == 1
    assert double.sync_count() == 0, "no global sync unless asked for"
    names = {c["name"] for c in double.commands_for(double.guild)}
    assert names == {
        "imagine",
        "img2img",
        "inpaint",
        "canny",
        "animate",
        "styles",
        "preset",
        "server",
        "history",
        "queue",
        "cancel",
        "sweep",
        "quota",
    }

    def options(command):
        for option in command.get("options", []):
            yield option
            yield from options(option)

    for command in double.commands_for(double.guild):
        assert command["description"], command["name"]
        for option in options(command):
            assert option["description"], (command["name"], option["name"])


async def test_missing_attach_files_is_refused_before_any_work(harness):
    no_files = DEFAULT_BOT_PERMISSIONS & ~discord.Permissions(attach_files=True).value
    record = await harness.double.invoke("imagine", {"prompt": "x"}, app_permissions=no_files)
    assert "can't attach files" in await private_reply(record)
    assert await harness.database.jobs.recent(user_id=harness.double.user.id) == []
    assert harness.runner.calls == [], "no GPU time was spent"


async def test_threads_need_send_messages_in_threads(harness):
    double = harness.double
    thread = double.add_thread(double.channel, "ideas")
    await double.push_guilds()
    no_threads = DEFAULT_BOT_PERMISSIONS & ~discord.Permissions(send_messages_in_threads=True).value
    record = await double.invoke(
        "imagine", {"prompt": "x"}, channel=thread, app_permissions=no_threads
    )
    assert "can't post in this thread" in await private_reply(record)
    assert harness.runner.calls == []


async def test_an_upload_declared_too_large_is_refused_without_downloading(harness):
    harness.bot.settings.lcm_max_upload_mb = 0.0001  # about 100 bytes
    record = await harness.double.invoke(
        "img2img", {"prompt": "x", "image": ("big.png", png_bytes((200, 200)))}
    )
    text = await private_reply(record)
    assert text.startswith("⚠️ image: big.png is ") and "files up to" in text
    assert not [c for c in harness.double.calls if c.route == "attachment"]


@contextlib.contextmanager
def safety_flags_everything(pipelines):
    checker = pipelines.safety_checker().model
    saved = checker.concept_embeds_weights.data.clone()
    checker.concept_embeds_weights.data.fill_(-10.0)
    try:
        yield
    finally:
        checker.concept_embeds_weights.data.copy_(saved)


@pytest.mark.parametrize(
    ("policy", "nsfw_channel", "outcome"),
    [
        (NsfwPolicy.BLOCK, False, "blocked"),
        (NsfwPolicy.SPOILER, False, "spoiler"),
        (NsfwPolicy.ALLOW_IN_NSFW_CHANNELS, False, "blocked"),
        (NsfwPolicy.ALLOW_IN_NSFW_CHANNELS, True, "posted"),
        (NsfwPolicy.BLOCK, True, "blocked"),
    ],
)
async def test_the_server_nsfw_policy_decides_what_a_flagged_image_becomes(
    harness, tiny_pipelines, policy, nsfw_channel, outcome
):
    double = harness.double
    await harness.database.guilds.upsert(double.guild.id, nsfw_policy=policy)
    channel = (
        double.add_text_channel(double.guild, "after-dark", nsfw=True)
        if nsfw_channel
        else double.channel
    )
    await double.push_guilds()
    with safety_flags_everything(tiny_pipelines):
        record = await double.invoke("imagine", {"prompt": "x", "count": 2}, channel=channel)
        if outcome == "blocked":
            notice = await record.wait_for_original(
                lambda m: "withheld" in (m.content or ""), timeout=30
            )
            await harness.idle()
            assert record.followups == [] or not record.followups[0].attachments
            assert "2 image(s) withheld" in notice.content
            return
        result = await record.wait_for_followup(timeout=30)
        await harness.idle()
    names = [a.filename for a in result.attachments]
    assert len(names) == 2
    if outcome == "spoiler":
        assert all(name.startswith("SPOILER_") for name in names)
        assert "behind a spoiler" in result.content
    else:
        assert not any(name.startswith("SPOILER_") for name in names)
