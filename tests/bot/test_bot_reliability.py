"""Discord-side faults: token expiry, deleted status, 429s, upload limits, pings and secrets."""

from __future__ import annotations

import io
import logging

import discord
import pytest
from PIL import Image

from tests.bot.conftest import png_bytes
from tests.discord_double import Limits
from tests.discord_double.limits import Rule
from tests.generation.hostile_corpus import ERROR, corpus


@pytest.fixture
def limits():
    return Limits(token_lifetime=4.0)  # 15 minutes, scaled down


async def test_a_job_finishing_after_the_token_expired_is_delivered_in_the_channel(harness):
    double, runner = harness.double, harness.runner
    runner.gate.clear()
    record = await double.invoke("imagine", {"prompt": "GATE slow one"})
    await record.wait_for_original(lambda m: "Rendering" in (m.content or ""), timeout=30)
    await record.wait_token_expired(timeout=10)
    runner.gate.set()
    posted = await double.wait_for_message(
        double.channel, lambda m: bool(m.attachments) and m.interaction_id is None, timeout=30
    )
    await harness.idle()
    assert posted.content.startswith(f"<@{double.user.id}> ")
    assert record.followups == [], "exactly one delivery, through the channel"
    assert [(p.kind, p.target) for p in double.pings] == [("user", double.user.id)]
    # The bot learns of the expiry from Discord's 401 (code 50027) and falls back.
    assert double.take_violations(Rule.TOKEN_EXPIRED)
    assert double.violations == []


async def test_a_status_message_deleted_mid_progress_does_not_stop_delivery(harness):
    double, runner = harness.double, harness.runner
    runner.gate.clear()
    record = await double.invoke("imagine", {"prompt": "GATE deleted status"})
    status = await record.wait_for_original(lambda m: "Rendering" in (m.content or ""), timeout=30)
    await double.delete_message(status)
    runner.gate.set()
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    assert result.attachments and not result.deleted
    double.take_violations()  # edits of the deleted status (10008) are the point of the test


async def test_429s_with_retry_headers_still_deliver_every_result_once(harness):
    double = harness.double
    double.inject_rate_limits(0.3, seed=7)
    records = [await double.invoke("imagine", {"prompt": f"kite {i}"}) for i in range(4)]
    results = [await r.wait_for_followup(timeout=60) for r in records]
    await harness.idle()
    assert all(r.attachments for r in results)
    assert len({r.id for r in results}) == 4
    assert any(f.kind == "rate_limit" for f in double.faults), "429s were really injected"
    assert [v for v in double.violations if v.rule is Rule.DUPLICATE] == []


# Discord's own token lifetime: this module's 4 s is for the expiry tests, and a 24-frame
# animation on a loaded 2-core machine can outlive it (then it is delivered in the channel).
@pytest.mark.parametrize("limits", [Limits()], ids=["15-minute-token"])
async def test_an_oversize_gif_is_reencoded_to_fit_the_upload_limit(harness):
    double = harness.double
    assert double.limits.token_lifetime == Limits().token_lifetime
    small = double.add_guild("Small Uploads", upload_limit=60_000)
    channel = double.add_text_channel(small, "art")
    double.add_member(small, double.user)
    await double.push_guilds()
    guild = discord.Object(small.id)
    harness.bot.tree.copy_global_to(guild=guild)
    await harness.bot.tree.sync(guild=guild)
    record = await double.invoke(
        "animate", {"prompt": "noisy waves", "frames": 24}, guild=small, channel=channel
    )
    result = await record.wait_for_followup(timeout=60)
    await harness.idle()
    [gif] = result.attachments
    assert len(gif.data) <= 60_000
    with Image.open(io.BytesIO(gif.data)) as image:
        assert image.format == "GIF" and image.n_frames >= 8


async def test_echoed_prompts_never_ping_and_the_token_never_reaches_the_logs(harness, caplog):
    caplog.set_level(logging.DEBUG)
    record = await harness.double.invoke("imagine", {"prompt": "@everyone look <@&1> @here"})
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    assert "@everyone" in result.content
    assert harness.double.pings == []
    assert harness.double.violations == []
    assert harness.double.token not in caplog.text


async def test_hostile_attachments_get_a_private_message_and_the_bot_keeps_serving(harness):
    double = harness.double
    refused = 0
    samples = [(name, data) for name, data, expected in corpus() if expected == ERROR]
    assert len(samples) >= 100
    for name, data in samples:
        record = await double.invoke(
            "img2img", {"prompt": "x", "image": (f"{name}.png", data or b"\0")}
        )
        reply = await record.wait_for_original(lambda m: bool(m.content), timeout=30)
        assert reply.ephemeral and reply.content.startswith("⚠️ image: "), (name, reply.content)
        assert record.followups == []
        refused += 1
    healthy = await double.invoke("img2img", {"prompt": "x", "image": ("ok.png", png_bytes())})
    assert (await healthy.wait_for_followup(timeout=30)).attachments
    await harness.idle()
    assert refused == len(samples)
