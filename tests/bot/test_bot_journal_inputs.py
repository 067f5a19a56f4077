"""Uploads are in the journal from the moment a job is accepted, so a restart can run it."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from generation.images.image_decode import decode_image, decode_mask
from storage.models import JobStatus
from tests.bot.conftest import mask_bytes, png_bytes


@pytest.mark.parametrize("command", ["img2img", "inpaint", "canny"])
async def test_uploads_are_journaled_at_admission_before_the_job_runs(harness, command):
    double, runner = harness.double, harness.runner
    runner.gate.clear()  # the worker is busy: the new job waits in the queue
    busy = await double.invoke("imagine", {"prompt": "GATE a long render"})
    await busy.wait_for_original(lambda m: "Rendering" in (m.content or ""), timeout=30)

    options = {"prompt": "a window", "image": ("photo.png", png_bytes())}
    if command == "inpaint":
        options["mask"] = ("mask.png", mask_bytes())
    record = await double.invoke(command, options)
    await record.wait_for_original(lambda m: "Queued" in (m.content or ""), timeout=30)

    [job] = [
        j
        for j in await harness.database.jobs.recent(guild_id=double.guild.id, limit=10)
        if j.command == command
    ]
    assert job.status is JobStatus.QUEUED, "checked before the job ran"
    stored = await harness.database.jobs.inputs(job.id)
    assert set(stored) == ({"image", "mask"} if command == "inpaint" else {"image"})
    picture = decode_image(stored["image"])
    with Image.open(io.BytesIO(png_bytes())) as upload:
        # What was stored is the validated working image the engine runs (fitted to 64 px).
        assert picture.size[0] <= 64 and picture.size[0] / picture.size[1] == pytest.approx(
            upload.size[0] / upload.size[1], rel=0.1
        )
    if command == "inpaint":
        assert decode_mask(stored["mask"]).size == picture.size
    runner.gate.set()
    await record.wait_for_followup(timeout=60)
    await harness.idle()
