"""/styles, /preset, /server, /history, /queue and /cancel through the real client."""

from __future__ import annotations

from storage.models import JobStatus, PresetScope
from tests.discord_double.state import ADMINISTRATOR


async def reply_of(record, timeout: float = 10.0):
    """The text of an ephemeral answer (a direct response or a deferred one)."""
    response = await record.wait_for_response(timeout=timeout)
    if response.type == 4:
        return response.data["content"]
    return (await record.wait_for_original(lambda m: bool(m.content), timeout=timeout)).content


async def test_styles_lists_the_allow_list_and_autocomplete_offers_names(harness):
    text = await reply_of(await harness.double.invoke("styles"))
    assert "**ink** (weight 0.8)" in text and "**neon**" in text and "ink drawing" in text
    suggestions = await harness.double.autocomplete("imagine", "style", "ne", {"prompt": "x"})
    await suggestions.wait_for_response()
    assert [c["value"] for c in suggestions.choices] == ["neon"]


async def test_presets_save_show_use_default_and_delete(harness):
    double, database = harness.double, harness.database
    saved = await reply_of(
        await double.invoke(
            "preset", {"name": "wide", "size": "96x64", "steps": 3}, subcommand="save"
        )
    )
    assert "Saved." in saved and "size: 96x64" in saved
    assert "wide" in await reply_of(await double.invoke("preset", subcommand="list"))
    shown = await reply_of(await double.invoke("preset", {"name": "wide"}, subcommand="show"))
    assert "steps: 3" in shown

    used = await double.invoke("preset", {"name": "wide", "prompt": "a bridge"}, subcommand="use")
    result = await used.wait_for_followup(timeout=30)
    await harness.idle()
    assert "96×64" in result.content and "3 steps" in result.content
    assert "size, steps from preset:wide" in result.content, "the source of each value is shown"

    await reply_of(await double.invoke("preset", {"name": "wide"}, subcommand="default"))
    plain = await double.invoke("imagine", {"prompt": "a tower"})
    result = await plain.wait_for_followup(timeout=30)
    await harness.idle()
    assert "96×64" in result.content and "from user default" in result.content

    gone = await reply_of(await double.invoke("preset", {"name": "wide"}, subcommand="delete"))
    assert gone == "Deleted."
    assert await database.presets.get(PresetScope.USER, double.user.id, "wide") is None
    missing = await double.invoke("imagine", {"prompt": "x", "preset": "wide"})
    assert "no preset called 'wide'" in await reply_of(missing, timeout=30)


async def test_server_settings_need_manage_guild_on_every_write(harness):
    double = harness.double
    denied = await reply_of(
        await double.invoke(
            "server", {"max_steps": 2}, subcommand="settings", ignore_default_permissions=True
        )
    )
    assert "Manage Server permission" in denied
    assert (await harness.database.guilds.get(double.guild.id)).max_steps is None

    admin = double.add_user("admin")
    double.add_member(double.guild, admin, permissions=ADMINISTRATOR)
    await double.push_guilds()
    changed = await reply_of(
        await double.invoke(
            "server", {"max_steps": 2, "allowed_styles": "ink"}, subcommand="settings", user=admin
        )
    )
    assert "(updated)" in changed and "steps per job: 2" in changed and "styles: ink" in changed

    too_many = await double.invoke("imagine", {"prompt": "x", "steps": 4})
    assert "at most 2 steps" in await reply_of(too_many, timeout=30)
    not_allowed = await double.invoke("imagine", {"prompt": "x", "steps": 2, "style": "neon"})
    assert "not allowed here" in await reply_of(not_allowed, timeout=30)

    preset = await reply_of(
        await double.invoke(
            "server", {"name": "house", "steps": 1}, subcommand="preset", user=admin
        )
    )
    assert "Saved." in preset
    await reply_of(
        await double.invoke(
            "server", {"name": "house", "action": "make-default"}, subcommand="preset", user=admin
        )
    )
    job = await double.invoke("imagine", {"prompt": "a house"})
    result = await job.wait_for_followup(timeout=30)
    await harness.idle()
    assert "1 steps" in result.content and "from server default" in result.content


async def test_history_queue_and_cancel(harness):
    double, runner = harness.double, harness.runner
    runner.gate.clear()
    blocker = await double.invoke("imagine", {"prompt": "GATE first"})
    await blocker.wait_for_original(lambda m: "Rendering" in (m.content or ""), timeout=30)
    waiting = [await double.invoke("imagine", {"prompt": f"waiting {i}"}) for i in range(2)]
    for record in waiting:
        await record.wait_for_original(lambda m: "Queued" in (m.content or ""), timeout=30)

    queue = await reply_of(await double.invoke("queue"))
    assert "2 waiting" in queue and "is rendering" in queue and "at position 1" in queue

    job_ids = [job_id for job_id, _ in harness.engine.waiting_jobs(double.user.id)]
    one = await reply_of(await double.invoke("cancel", {"job": job_ids[0]}))
    assert f"Cancelling `{job_ids[0]}`" in one
    everything = await reply_of(await double.invoke("cancel"))
    assert "Cancelling" in everything
    runner.gate.set()
    await waiting[0].wait_for_original(lambda m: "cancelled" in (m.content or ""), timeout=30)
    await harness.idle()
    statuses = {
        job.id: job.status for job in await harness.database.jobs.recent(user_id=double.user.id)
    }
    # "cancel all" took the running blocker too: it stopped at its first step.
    assert list(statuses.values()) == [JobStatus.CANCELLED] * 3

    history = await double.invoke("history")
    text = await reply_of(history)
    assert "**Your jobs** (page 1)" in text and "waiting 0" in text
    message = record_message(double, history)
    reopen = await double.click(message, message.custom_ids()[-1], values=[str(max(statuses))])
    reopened = await reply_of(reopen)
    assert f"`{max(statuses)}`" in reopened


def record_message(double, record):
    return (
        double.messages[record.response.message_id]
        if record.response.message_id
        else record.original
    )


async def test_cooldown_refuses_a_second_job_too_soon(harness):
    harness.bot.settings.lcm_cooldown_s = 60
    first = await harness.double.invoke("imagine", {"prompt": "one"})
    await first.wait_for_followup(timeout=30)
    second = await harness.double.invoke("imagine", {"prompt": "two"})
    assert "Slow down" in await reply_of(second, timeout=30)
