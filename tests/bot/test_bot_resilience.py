"""Races, faults in buttons, recovery and delivery: nothing is lost, every user gets an answer."""

from __future__ import annotations

import asyncio

from storage.models import JobStatus
from tests.bot.conftest import png_bytes


async def private_text(record, timeout: float = 30.0) -> str:
    reply = await record.wait_for_original(lambda m: bool(m.content), timeout=timeout)
    assert reply.ephemeral
    return reply.content


async def test_concurrent_commands_of_one_user_admit_exactly_one_within_the_cooldown(harness):
    double, runner = harness.double, harness.runner
    harness.bot.settings.lcm_cooldown_s = 60
    # All dispatched before the bot has answered any: their preparations interleave.
    records = await asyncio.gather(
        *(double.invoke("imagine", {"prompt": f"race {i}"}) for i in range(12))
    )

    def answered():
        # Each command ends in a posted result or a private refusal.
        return all(
            r.followups or "Slow down" in ((r.original and r.original.content) or "")
            for r in records
        )

    await double.wait_until(answered, 60, "every command answered")
    await harness.idle()
    admitted = [r for r in records if r.followups]
    refused = [r for r in records if not r.followups]
    assert len(admitted) == 1, f"{len(admitted)} of {len(records)} admitted within the cooldown"
    for record in refused:
        assert "Slow down" in await private_text(record)
    assert len(await harness.database.jobs.recent(user_id=double.user.id)) == 1
    assert len(runner.requests) == 1


async def test_a_refused_upload_does_not_spend_the_cooldown(harness):
    double = harness.double
    harness.bot.settings.lcm_cooldown_s = 60
    bad = await double.invoke("img2img", {"prompt": "x", "image": ("bad.png", b"not a picture")})
    assert (await private_text(bad)).startswith("⚠️ image: ")
    good = await double.invoke("img2img", {"prompt": "x", "image": ("ok.png", png_bytes())})
    assert (await good.wait_for_followup(timeout=30)).attachments
    await harness.idle()
    third = await double.invoke("imagine", {"prompt": "too soon"})
    assert "Slow down" in await private_text(third)
    [job] = await harness.database.jobs.recent(user_id=double.user.id)
    assert job.status is JobStatus.FINISHED
