"""Every generation command through the real client and the strict double, on tiny models."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from generation.images.encode import read_png_parameters
from storage.models import JobStatus
from tests.bot.conftest import mask_bytes, png_bytes


async def result_of(harness, record, timeout: float = 30.0):
    """The public message holding the job's result (a follow-up: progress is private)."""
    message = await record.wait_for_followup(timeout=timeout)
    await harness.idle()
    return message


async def test_imagine_defers_shows_progress_and_posts_pngs_with_buttons(harness):
    double = harness.double
    record = await double.invoke("imagine", {"prompt": "a lighthouse", "count": 2, "seed": 11})
    response = await record.wait_for_response()
    assert response.type == 5 and response.delay < 1.0
    message = await result_of(harness, record)

    assert [a.filename for a in message.attachments] == ["lcm-11.png", "lcm-12.png"]
    for attachment, seed in zip(message.attachments, (11, 12), strict=True):
        assert read_png_parameters(attachment.data)["seed"] == seed
        with Image.open(io.BytesIO(attachment.data)) as image:
            assert image.size == (64, 64)
    assert "a lighthouse" in message.content and "seed 11, 12" in message.content
    assert not message.ephemeral, "the result is for everyone"
    status = record.original
    assert status.ephemeral and status.id != message.id, "progress is private"
    texts = [version.content for version in status.history]
    assert any(t and t.startswith(("⏳ Queued", "🎨 Rendering")) for t in texts), texts
    assert status.content.startswith("✅ Done: ")
    job_id = int(message.content.split("job ")[-1].split()[0])
    # Two pictures: an Upscale n and a Vary n per picture, then the actions that ask which.
    per_picture = {f"lcm:{a}:{job_id}:{n}" for a in ("upscale", "vary") for n in (1, 2)}
    assert set(message.custom_ids()) == per_picture | {
        f"lcm:{a}:{job_id}"
        for a in (
            "reroll",
            "vary-subtle",
            "outpaint",
            "remix",
            "init",
            "nudge",
            "showcase",
            "info",
            "delete",
        )
    }
    job = await harness.database.jobs.get(job_id)
    assert job.status == JobStatus.FINISHED and job.seeds == [11, 12]
    assert job.result_message_id == message.id
    assert double.violations == []


async def test_img2img_uploads_are_downloaded_from_discord_and_sized(harness):
    record = await harness.double.invoke(
        "img2img", {"prompt": "a yellow box", "image": ("photo.png", png_bytes()), "strength": 0.5}
    )
    message = await result_of(harness, record)
    [attachment] = message.attachments
    with Image.open(io.BytesIO(attachment.data)) as image:
        assert image.size == (64, 40)  # 96×64 fitted into the tiny family's 64, kept 3:2
    assert any(call.route == "attachment" for call in harness.double.calls)


@pytest.mark.parametrize("with_mask", [True, False], ids=["mask", "transparent-png"])
async def test_inpaint_with_a_mask_or_a_transparent_hole(harness, with_mask):
    options = {
        "prompt": "a window",
        "image": ("photo.png", png_bytes(transparent_hole=not with_mask)),
    }
    if with_mask:
        options["mask"] = ("mask.png", mask_bytes())
    message = await result_of(harness, await harness.double.invoke("inpaint", options))
    assert len(message.attachments) == 1 and message.attachments[0].filename.endswith(".png")


async def test_inpaint_without_any_mask_is_refused_privately(harness):
    record = await harness.double.invoke(
        "inpaint", {"prompt": "a window", "image": ("photo.png", png_bytes())}
    )
    reply = await record.wait_for_original(
        lambda m: "Inpainting needs a mask" in (m.content or ""), timeout=30
    )
    assert reply.ephemeral
    assert record.followups == [], "nothing public is posted for a refused job"


@pytest.mark.parametrize("adapter", ["controlnet", "t2i-adapter"])
async def test_canny_shows_the_edge_map_it_used(harness, adapter):
    record = await harness.double.invoke(
        "canny",
        {
            "prompt": "a robot",
            "image": ("sketch.png", png_bytes()),
            "adapter": adapter,
            "low_threshold": 50,
        },
    )
    message = await result_of(harness, record)
    names = [a.filename for a in message.attachments]
    assert len(names) == 2 and names[-1] == "edges.png"
    assert f"{adapter} 50–200" in message.content


async def test_animate_posts_a_gif(harness):
    record = await harness.double.invoke("animate", {"prompt": "waves", "frames": 8, "fps": 4})
    message = await result_of(harness, record)
    [attachment] = message.attachments
    with Image.open(io.BytesIO(attachment.data)) as gif:
        assert gif.format == "GIF" and gif.n_frames == 8
    assert "8 frames @ 4 fps" in message.content
    assert not any(cid.split(":")[1] in ("vary", "upscale", "init") for cid in message.custom_ids())
