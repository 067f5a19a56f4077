"""Pick one picture of a result with several: U1…U4 / V1…V4, vary (subtle / strong) and remix on
the picture chosen, journaled with its lineage, and still working after the bot restarts."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from bot.views import ACTIONS, ROW_ACTIONS, JobButton
from storage.models import JobStatus
from tests.bot.test_bot_buttons import restarted

PROMPT = "a red kite"
NEGATIVE = "blurry"


async def four_pictures(harness):
    record = await harness.double.invoke(
        "imagine", {"prompt": PROMPT, "negative": NEGATIVE, "seed": 5, "count": 4}
    )
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    job_id = int(result.custom_ids()[0].split(":")[2])
    return result, job_id


def pixels(data: bytes, size: tuple[int, int] | None = None) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGB")
        if size is not None and image.size != size:
            image = image.resize(size, Image.Resampling.BICUBIC)
        return np.asarray(image, dtype=np.int16)


async def source_picture(harness, job_id: int, result) -> int:
    """Which posted picture (1-based) the job's stored init image is; it must be exactly one."""
    stored = (await harness.database.jobs.inputs(job_id))["image"]
    posted = [pixels(a.data) for a in result.attachments]
    size = posted[0].shape[1::-1]
    distances = [float(np.abs(pixels(stored, size) - p).mean()) for p in posted]
    best = int(np.argmin(distances))
    assert sorted(distances)[1] > distances[best] + 5, f"no single source: {distances}"
    return best + 1


async def new_job_of(harness, message):
    new_id = int(message.custom_ids()[0].split(":")[2])
    await harness.idle()
    return await harness.database.jobs.get(new_id)


async def choose(harness, message, custom_id: str, picture: int):
    """Click a picture action without a picture; the bot asks which; pick ``picture``."""
    click = await harness.double.click(message, custom_id)
    chooser = await click.wait_for_original()
    assert chooser.ephemeral and "which picture" in chooser.content
    offered = [f"{custom_id}:{n}" for n in range(1, len(message.attachments) + 1)]
    assert chooser.custom_ids() == offered
    return await harness.double.click(chooser, f"{custom_id}:{picture}")


async def test_a_result_with_four_pictures_has_U_and_V_rows_with_readable_labels(harness):
    result, job_id = await four_pictures(harness)
    assert len(result.attachments) == 4
    rows = result.components
    assert [c["custom_id"] for c in rows[0]["components"]] == [
        f"lcm:upscale:{job_id}:{n}" for n in range(1, 5)
    ]
    assert [c["label"] for c in rows[0]["components"]] == [f"Upscale {n}" for n in range(1, 5)]
    assert [c["label"] for c in rows[1]["components"]] == [f"Vary {n}" for n in range(1, 5)]
    rest = [c["custom_id"] for row in rows[2:] for c in row["components"]]
    # Every other action, once, asking which picture; Upscale n and Vary n are the rows above.
    assert rest == [f"lcm:{action}:{job_id}" for action in ACTIONS if action not in ROW_ACTIONS]
    assert {"reroll", "vary-subtle", "outpaint", "remix", "init", "info", "delete"} <= {
        custom_id.split(":")[1] for custom_id in rest
    }
    # A single picture keeps one row of actions, with the two strengths of vary side by side.
    single = await harness.double.invoke("imagine", {"prompt": PROMPT, "seed": 5})
    single = await single.wait_for_followup(timeout=30)
    await harness.idle()
    labels = [c["label"] for row in single.components for c in row["components"]]
    assert labels[:5] == ["Re-roll", "Vary (subtle)", "Vary (strong)", "Upscale", "Zoom out / pan"]


async def test_V2_starts_from_the_picture_chosen_with_lineage(harness):
    """U n opens the upscale panel of picture n (tests/bot/test_bot_grow.py)."""
    result, job_id = await four_pictures(harness)
    parent = await harness.database.jobs.get(job_id)
    for custom_id, picture, strength, size in ((f"lcm:vary:{job_id}:2", 2, 0.7, "64x64"),):
        click = await harness.double.click(result, custom_id)
        new_job = await new_job_of(harness, await click.wait_for_followup(timeout=30))
        assert new_job.status == JobStatus.FINISHED and new_job.parent_id == job_id
        action = custom_id.split(":")[1]
        assert new_job.command == f"button:{action}:{picture}"  # which picture, in the journal
        assert new_job.parameters["strength"] == strength
        assert new_job.parameters["size"] == size
        assert new_job.parameters["count"] == parent.parameters["count"] == 4
        assert await source_picture(harness, new_job.id, result) == picture


async def test_vary_subtle_and_use_as_init_ask_which_picture_then_use_it(harness):
    result, job_id = await four_pictures(harness)
    click = await choose(harness, result, f"lcm:vary-subtle:{job_id}", 4)
    subtle = await new_job_of(harness, await click.wait_for_followup(timeout=30))
    assert subtle.parent_id == job_id and subtle.command == "button:vary-subtle:4"
    assert subtle.parameters["mode"] == "img2img"
    assert subtle.parameters["strength"] == 0.35  # Vary (subtle); V n is 0.7
    assert await source_picture(harness, subtle.id, result) == 4

    click = await choose(harness, result, f"lcm:init:{job_id}", 2)
    await click.wait_for_response()
    submitted = await harness.double.submit_modal(
        click, {"prompt": "the same kite at night", "strength": "0.5"}
    )
    init = await new_job_of(harness, await submitted.wait_for_followup(timeout=30))
    assert init.parent_id == job_id and init.command == "button:init:2"
    assert init.parameters["strength"] == 0.5
    assert await source_picture(harness, init.id, result) == 2


async def test_remix_prefills_the_prompts_and_keeps_the_seed_of_the_picture_chosen(harness):
    result, job_id = await four_pictures(harness)
    parent = await harness.database.jobs.get(job_id)
    click = await choose(harness, result, f"lcm:remix:{job_id}", 3)
    await click.wait_for_response()
    defaults = {
        field["custom_id"]: field.get("value")
        for row in click.modal["components"]
        for field in row.get("components", [row.get("component")])
    }
    assert defaults == {"prompt": PROMPT, "negative_prompt": NEGATIVE}
    submitted = await harness.double.submit_modal(
        click, {"prompt": "a blue kite", "negative_prompt": "rain"}
    )
    new_job = await new_job_of(harness, await submitted.wait_for_followup(timeout=30))
    assert new_job.parent_id == job_id and new_job.command == "button:remix:3"
    assert new_job.status == JobStatus.FINISHED
    assert new_job.parameters["prompt"] == "a blue kite"
    assert new_job.parameters["negative_prompt"] == "rain"
    assert new_job.seeds == [parent.seeds[2]] and new_job.parameters["count"] == 1
    same = ("mode", "size", "steps", "guidance", "styles", "quality")
    assert {k: new_job.parameters[k] for k in same} == {k: parent.parameters[k] for k in same}


async def test_picking_a_picture_works_after_the_bot_restarts(harness, tiny_pipelines):
    result, job_id = await four_pictures(harness)
    async with restarted(harness, tiny_pipelines):
        click = await harness.double.click(result, f"lcm:vary:{job_id}:2")
        varied = await click.wait_for_followup(timeout=30)
        # The chooser's buttons fetch the result message: nothing of it lives in memory.
        chosen = await choose(harness, result, f"lcm:vary-subtle:{job_id}", 3)
        subtle = await chosen.wait_for_followup(timeout=30)
    for message, picture in ((varied, 2), (subtle, 3)):
        new_job = await harness.database.jobs.get(int(message.custom_ids()[0].split(":")[2]))
        assert new_job.parent_id == job_id and new_job.status == JobStatus.FINISHED
        assert await source_picture(harness, new_job.id, result) == picture


def test_custom_ids_of_older_versions_still_parse():
    pattern = JobButton.__discord_ui_compiled_template__
    for custom_id in ("lcm:vary:12", "lcm:upscale:12", "lcm:init:12", "lcm:reroll:12"):
        match = pattern.fullmatch(custom_id)
        assert match and match["image"] is None
    match = pattern.fullmatch("lcm:vary-subtle:12:3")
    assert match["action"] == "vary-subtle" and match["image"] == "3"
    assert pattern.fullmatch("lcm:vary:12:0") is None


async def test_remix_with_the_prompt_unchanged_draws_the_picture_chosen_again(harness):
    result, job_id = await four_pictures(harness)
    click = await choose(harness, result, f"lcm:remix:{job_id}", 3)
    await click.wait_for_response()
    submitted = await harness.double.submit_modal(
        click, {"prompt": PROMPT, "negative_prompt": NEGATIVE}
    )
    again = await submitted.wait_for_followup(timeout=30)
    await harness.idle()
    drawn = pixels(again.attachments[0].data)
    distances = [float(np.abs(drawn - pixels(a.data)).mean()) for a in result.attachments]
    assert int(np.argmin(distances)) == 2 and distances[2] < 1.0, distances

    # A single picture: no question, the modal at once, the job's own seed.
    single = await harness.double.invoke("imagine", {"prompt": PROMPT, "seed": 9})
    single = await single.wait_for_followup(timeout=30)
    await harness.idle()
    single_id = int(single.custom_ids()[0].split(":")[2])
    click = await harness.double.click(single, f"lcm:remix:{single_id}")
    await click.wait_for_response()
    submitted = await harness.double.submit_modal(click, {"prompt": "a green kite"})
    remixed = await new_job_of(harness, await submitted.wait_for_followup(timeout=30))
    assert remixed.command == "button:remix" and remixed.parent_id == single_id
    assert remixed.seeds == [9] and remixed.parameters["prompt"] == "a green kite"


async def test_an_animation_offers_remix_but_no_picture_actions(harness):
    record = await harness.double.invoke("animate", {"prompt": "waves", "frames": 8, "seed": 4})
    result = await record.wait_for_followup(timeout=30)
    await harness.idle()
    job_id = int(result.custom_ids()[0].split(":")[2])
    actions = [c.split(":")[1] for c in result.custom_ids()]
    assert actions == ["reroll", "remix", "showcase", "info", "delete"]
    click = await harness.double.click(result, f"lcm:remix:{job_id}")
    await click.wait_for_response()
    submitted = await harness.double.submit_modal(click, {"prompt": "calm waves"})
    remixed = await new_job_of(harness, await submitted.wait_for_followup(timeout=30))
    assert remixed.parameters["mode"] == "animate" and remixed.seeds == [4]
    assert remixed.parameters["frames"] == 8 and remixed.status == JobStatus.FINISHED
