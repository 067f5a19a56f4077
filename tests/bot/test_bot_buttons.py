"""Result buttons: re-roll, vary, upscale, use as init, info, delete — and after a restart."""

from __future__ import annotations

import contextlib
import io

from PIL import Image

from storage.models import JobStatus
from tests.bot.conftest import make_bot
from tests.discord_double.state import ADMINISTRATOR


async def imagine(harness, **options):
    record = await harness.double.invoke("imagine", {"prompt": "a red kite", "seed": 5, **options})
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    job_id = int(result.custom_ids()[0].split(":")[2])
    return result, job_id


async def click_and_get_result(harness, message, custom_id, **kwargs):
    click = await harness.double.click(message, custom_id, **kwargs)
    result = await click.wait_for_followup(timeout=30)
    await harness.idle()
    return click, result


async def test_reroll_runs_again_with_a_new_seed_and_records_lineage(harness):
    first, job_id = await imagine(harness)
    click, again = await click_and_get_result(harness, first, f"lcm:reroll:{job_id}")
    assert (await click.wait_for_response()).type == 5
    new_id = int(again.custom_ids()[0].split(":")[2])
    new_job = await harness.database.jobs.get(new_id)
    assert new_job.parent_id == job_id and new_job.status == JobStatus.FINISHED
    assert new_job.parameters["prompt"] == "a red kite"
    assert new_job.seeds != [5]


async def test_variations_and_upscale_start_from_the_posted_picture(harness):
    first, job_id = await imagine(harness)
    _, varied = await click_and_get_result(harness, first, f"lcm:vary:{job_id}")
    # Upscale opens its panel (for the one picture); Upscale ×2 there runs the upscaler.
    panel = await (await harness.double.click(first, f"lcm:upscale:{job_id}")).wait_for_original()
    _, bigger = await click_and_get_result(harness, panel, f"lcm:up2:{job_id}:1")
    with Image.open(io.BytesIO(varied.attachments[0].data)) as image:
        assert image.size == (64, 64)
    with Image.open(io.BytesIO(bigger.attachments[0].data)) as image:
        assert image.size == (128, 128), "upscale ×2 doubles the picture"
    for action, message, mode in (("vary", varied, "img2img"), ("up2:1", bigger, "upscale")):
        new_job = await harness.database.jobs.get(int(message.custom_ids()[0].split(":")[2]))
        assert new_job.parameters["mode"] == mode and new_job.parent_id == job_id
        assert new_job.command == f"button:{action}"  # as in the click's own log lines


async def test_use_as_init_asks_for_the_prompt_in_a_modal(harness):
    first, job_id = await imagine(harness)
    click = await harness.double.click(first, f"lcm:init:{job_id}")
    await click.wait_for_response()
    assert click.modal is not None
    submitted = await harness.double.submit_modal(
        click, {"prompt": "the same kite at night", "strength": "0.7"}
    )
    result = await submitted.wait_for_followup(timeout=30)
    await harness.idle()
    assert "the same kite at night" in result.content and "strength 0.7" in result.content


async def test_info_is_private_and_delete_is_for_the_owner_or_moderators(harness):
    double = harness.double
    first, job_id = await imagine(harness)
    info = await double.click(first, f"lcm:info:{job_id}")
    reply = await info.wait_for_original()
    assert reply.ephemeral and f"Job {job_id}" in reply.content and '"seed": 5' in reply.content

    stranger = double.add_user("stranger")
    double.add_member(double.guild, stranger)
    await double.push_guilds()
    refused = await double.click(first, f"lcm:delete:{job_id}", user=stranger)
    assert "Only the person who made this" in (await refused.wait_for_original()).content
    assert not double.messages[first.id].deleted

    moderator = double.add_user("moderator")
    double.add_member(double.guild, moderator, permissions=ADMINISTRATOR)
    await double.push_guilds()
    done = await double.click(first, f"lcm:delete:{job_id}", user=moderator)
    await done.wait_for_followup(timeout=10)
    assert double.messages[first.id].deleted


@contextlib.asynccontextmanager
async def restarted(harness, tiny_pipelines):
    """The old bot process gone (its views with it), a fresh one over the same database."""
    await harness.bot.close()
    fresh = make_bot(harness.settings, harness.engine, harness.database, tiny_pipelines)
    async with harness.double.running(fresh):
        yield fresh
        await fresh.jobs.wait_idle()


async def test_buttons_work_after_the_bot_restarts(harness, tiny_pipelines):
    first, job_id = await imagine(harness)
    async with restarted(harness, tiny_pipelines):
        click = await harness.double.click(first, f"lcm:reroll:{job_id}")
        again = await click.wait_for_followup(timeout=30)
    new_job = await harness.database.jobs.get(int(again.custom_ids()[0].split(":")[2]))
    assert new_job.parent_id == job_id and again.attachments
