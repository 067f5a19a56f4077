"""50 concurrent slash commands on a busy worker: every one deferred in time, delivered once."""

from __future__ import annotations

import asyncio

from tests.discord_double.limits import Rule

USERS = 50


async def test_fifty_concurrent_commands_are_deferred_fast_and_delivered_once(harness):
    double, runner = harness.double, harness.runner
    users = [double.add_user(f"artist{i}") for i in range(USERS)]
    for user in users:
        double.add_member(double.guild, user)
    await double.push_guilds()

    runner.gate.clear()  # the worker is busy with someone else's job
    busy = await double.invoke("imagine", {"prompt": "GATE a long render"})
    await busy.wait_for_original(lambda m: "Rendering" in (m.content or ""), timeout=30)

    records = await asyncio.gather(
        *(
            double.invoke("imagine", {"prompt": f"picture {i}"}, user=user)
            for i, user in enumerate(users)
        )
    )
    responses = await asyncio.gather(*(r.wait_for_response(timeout=10) for r in records))
    delays = sorted(response.delay for response in responses)
    runner.gate.set()
    results = await asyncio.gather(*(r.wait_for_followup(timeout=120) for r in records))
    await harness.idle()

    assert all(response.type == 5 for response in responses)
    p99 = delays[int(len(delays) * 0.99) - 1]
    print(f"defer delays: p50 {delays[len(delays) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    assert delays[-1] < double.limits.response_deadline, delays[-1]
    assert p99 < 1.0, f"p99 defer {p99:.3f} s"
    assert all(len(r.followups) == 1 and r.followups[0].attachments for r in records)
    assert len({message.id for message in results}) == USERS
    assert double.take_violations(Rule.LATE_RESPONSE) == []
    assert [v for v in double.violations if v.rule is Rule.DUPLICATE] == []
    batched = harness.engine.snapshot().batch_sizes
    assert max(batched) > 1, "jobs from different users shared GPU calls"
