"""Upscale (×2/×4, subtle or creative), zoom out and pan from the picture chosen, against the
double: the panels, the jobs they start (journaled with their lineage), and after a restart."""

from __future__ import annotations

import numpy as np

from bot.views import PANEL_HELP, PANELS
from storage.models import JobStatus
from tests.bot.test_bot_buttons import restarted
from tests.bot.test_bot_pick_picture import (
    choose,
    four_pictures,
    new_job_of,
    pixels,
    source_picture,
)


async def open_panel(harness, message, custom_id: str):
    click = await harness.double.click(message, custom_id)
    panel = await click.wait_for_original()
    assert panel.ephemeral
    parts = custom_id.split(":")  # lcm:<action>:<job>[:<picture>]
    picture = parts[3] if len(parts) > 3 else "1"
    assert panel.content == PANEL_HELP[parts[1]].format(n=picture)  # what the buttons do
    return panel


async def upscale(harness, panel, job_id: int, action: str, n: int, *, kind: str, scale: int):
    """Click ``action`` for picture ``n`` on an upscale panel; its job must be that upscale,
    journaled with its lineage, and its file tiny's 64² picture × ``scale``."""
    click = await harness.double.click(panel, f"lcm:{action}:{job_id}:{n}")
    upscaled = await click.wait_for_followup(timeout=60)
    job = await new_job_of(harness, upscaled)
    assert job.status == JobStatus.FINISHED and job.parent_id == job_id
    assert job.command == f"button:{action}:{n}"
    side = 64 * scale
    assert {k: job.parameters[k] for k in ("mode", "scale", "upscale_kind", "size", "count")} == {
        "mode": "upscale",
        "scale": scale,
        "upscale_kind": kind,
        "size": f"{side}x{side}",
        "count": 1,
    }
    (picture,) = upscaled.attachments
    assert pixels(picture.data).shape == (side, side, 3)
    return job, picture


def nearest_picture(drawn: np.ndarray, result) -> tuple[int, list[float]]:
    """Which posted picture (1-based) ``drawn`` is, by mean pixel difference at their size."""
    posted = [pixels(a.data) for a in result.attachments]
    distances = [float(np.abs(drawn - p).mean()) for p in posted]
    return int(np.argmin(distances)) + 1, distances


async def test_upscale_3_offers_x2_x4_subtle_and_creative_and_upscales_picture_3(harness):
    result, job_id = await four_pictures(harness)
    panel = await open_panel(harness, result, f"lcm:upscale:{job_id}:3")
    assert panel.custom_ids() == [f"lcm:{a}:{job_id}:3" for a in PANELS["upscale"]]
    labels = [c["label"] for row in panel.components for c in row["components"]]
    assert labels == ["Upscale ×2", "Upscale ×4", "Creative upscale ×2", "Creative upscale ×4"]

    job, picture = await upscale(harness, panel, job_id, "up4", 3, kind="subtle", scale=4)
    assert await source_picture(harness, job.id, result) == 3
    # The file shows picture 3, larger: it is nearest to 3 of the four, by far.
    nearest, distances = nearest_picture(pixels(picture.data, (64, 64)), result)
    assert nearest == 3 and sorted(distances)[1] > 2 * distances[2], distances

    click = await harness.double.click(panel, f"lcm:up2c:{job_id}:3")
    creative = await new_job_of(harness, await click.wait_for_followup(timeout=30))
    assert creative.status == JobStatus.FINISHED and creative.parent_id == job_id
    assert creative.parameters["upscale_kind"] == "creative"
    assert creative.parameters["size"] == "128x128" and creative.parameters["strength"] == 0.3
    assert await source_picture(harness, creative.id, result) == 3


async def test_creative_upscale_x4_of_picture_2_details_picture_2_at_four_times_its_size(harness):
    result, job_id = await four_pictures(harness)
    panel = await open_panel(harness, result, f"lcm:upscale:{job_id}:2")
    job, _ = await upscale(harness, panel, job_id, "up4c", 2, kind="creative", scale=4)
    assert await source_picture(harness, job.id, result) == 2
    # The file cannot show which: tiny's random weights redraw every pixel (it is ~33/255 from
    # each of the four), so the proof is the picture the engine upscaled and detailed.
    (ran,) = [r for r in harness.runner.requests if r.upscale_kind == "creative"]
    assert ran.scale == 4 and (ran.width, ran.height) == (256, 256)
    nearest, distances = nearest_picture(np.asarray(ran.image, dtype=np.int16), result)
    assert nearest == 2 and min(distances) == 0, distances


async def test_zoom_out_asks_which_picture_and_keeps_that_picture_in_the_middle(harness):
    result, job_id = await four_pictures(harness)
    chosen = await choose(harness, result, f"lcm:outpaint:{job_id}", 2)
    panel = await chosen.wait_for_original()
    assert panel.content == PANEL_HELP["outpaint"].format(n=2)
    assert panel.custom_ids() == [f"lcm:{a}:{job_id}:2" for a in PANELS["outpaint"]]
    labels = [c["label"] for row in panel.components for c in row["components"]]
    assert labels == [
        "Zoom out ×1.5",
        "Zoom out ×2",
        "Pan left",
        "Pan right",
        "Pan up",
        "Pan down",
    ]

    click = await harness.double.click(panel, f"lcm:zoom2:{job_id}:2")
    zoomed = await click.wait_for_followup(timeout=30)
    job = await new_job_of(harness, zoomed)
    assert job.status == JobStatus.FINISHED and job.parent_id == job_id
    assert job.command == "button:zoom2:2"
    assert job.parameters["mode"] == "outpaint" and job.parameters["outpaint"] == "zoom-2"
    assert job.parameters["size"] == "128x128"
    canvas = pixels(zoomed.attachments[0].data)
    assert canvas.shape == (128, 128, 3)
    # Picture 2's own pixels in the middle, untouched inside the 8-pixel feather (64 / 8).
    middle = canvas[32 + 8 : 96 - 8, 32 + 8 : 96 - 8]
    posted = [pixels(a.data)[8:-8, 8:-8] for a in result.attachments]
    assert np.array_equal(middle, posted[1])
    assert all(not np.array_equal(middle, other) for i, other in enumerate(posted) if i != 1)

    for action, size in (
        ("pan-left", (96, 64)),
        ("pan-right", (96, 64)),
        ("pan-up", (64, 96)),
        ("pan-down", (64, 96)),
    ):
        click = await harness.double.click(panel, f"lcm:{action}:{job_id}:2")
        message = await click.wait_for_followup(timeout=30)
        panned = await new_job_of(harness, message)
        assert panned.parameters["outpaint"] == action and panned.command == f"button:{action}:2"
        assert pixels(message.attachments[0].data).shape[1::-1] == size
        assert await source_picture(harness, panned.id, result) == 2


async def test_the_panels_work_after_the_bot_restarts(harness, tiny_pipelines):
    result, job_id = await four_pictures(harness)
    panel = await (await choose(harness, result, f"lcm:outpaint:{job_id}", 4)).wait_for_original()
    single = await harness.double.invoke("imagine", {"prompt": "a red kite", "seed": 8})
    single = await single.wait_for_followup(timeout=30)
    await harness.idle()
    single_id = int(single.custom_ids()[0].split(":")[2])
    async with restarted(harness, tiny_pipelines):
        # A panel posted before the restart: its buttons fetch the result from the journal.
        click = await harness.double.click(panel, f"lcm:zoom15:{job_id}:4")
        zoomed = await click.wait_for_followup(timeout=30)
        # The Upscale button of an older single-picture result opens the panel for picture 1.
        upscale = await open_panel(harness, single, f"lcm:upscale:{single_id}")
        assert upscale.custom_ids()[0] == f"lcm:up2:{single_id}:1"
        click = await harness.double.click(upscale, f"lcm:up2:{single_id}:1")
        upscaled = await click.wait_for_followup(timeout=30)
    zoom_job = await harness.database.jobs.get(int(zoomed.custom_ids()[0].split(":")[2]))
    assert zoom_job.parent_id == job_id and zoom_job.status == JobStatus.FINISHED
    assert zoom_job.parameters["size"] == "96x96"
    assert await source_picture(harness, zoom_job.id, result) == 4
    up_job = await harness.database.jobs.get(int(upscaled.custom_ids()[0].split(":")[2]))
    assert up_job.parent_id == single_id and up_job.parameters["size"] == "128x128"
    assert pixels(upscaled.attachments[0].data).shape == (128, 128, 3)
