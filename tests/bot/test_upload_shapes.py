"""Uploads of awkward shapes make an image in every canny mode: `lcm-bot generate` and /canny."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from bot.cli import main as lcm_bot_main

# Odd, tall, near-square and the two most common photo and screenshot shapes. The SDXL
# T2I-Adapter needs both sides divisible by 16; sizes snapped to 8 used to crash it.
SHAPES = [(64, 40), (40, 64), (72, 56), (1000, 750), (1920, 1080)]
CANNY_MODES = ["controlnet", "t2i-adapter"]


def upload(size: tuple[int, int]) -> bytes:
    image = Image.new("RGB", size, (90, 120, 200))
    width, height = size
    box = (width // 5, height // 5, width * 3 // 5, height * 3 // 5)
    ImageDraw.Draw(image).rectangle(box, fill=(250, 200, 30))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("family", ["tiny", "tiny-xl"])
@pytest.mark.parametrize("mode", CANNY_MODES)
def test_lcm_bot_generate_makes_an_image_from_every_shape(tmp_path, family, mode, capsys):
    for width, height in SHAPES:
        source = tmp_path / f"{width}x{height}.png"
        source.write_bytes(upload((width, height)))
        out = tmp_path / f"out-{width}x{height}"
        args = ["generate", "a yellow box", "--mode", mode, "--model", family]
        args += ["--image", str(source), "--seed", "3", "--out", str(out)]
        assert lcm_bot_main(args) == 0, capsys.readouterr().err
        with Image.open(out / f"{mode}-3.png") as image:
            result_width, result_height = image.size
        multiple = 16 if (family, mode) == ("tiny-xl", "t2i-adapter") else 8
        assert result_width % multiple == 0 and result_height % multiple == 0
        # The aspect follows the upload within what snapping to the size rule allows.
        assert (result_width >= result_height) == (width >= height), (width, height)


@pytest.fixture(params=["tiny", "tiny-xl"])
def tiny_pipelines(request, tiny_pipelines, tiny_xl_pipelines):
    """The bot harness runs on each tiny family in turn (overrides the shared fixture)."""
    return tiny_pipelines if request.param == "tiny" else tiny_xl_pipelines


@pytest.mark.parametrize("adapter", CANNY_MODES)
async def test_canny_command_makes_an_image_from_every_shape(harness, adapter):
    for width, height in SHAPES:
        record = await harness.double.invoke(
            "canny",
            {
                "prompt": "a robot",
                "image": (f"upload-{width}x{height}.png", upload((width, height))),
                "adapter": adapter,
            },
        )
        message = await record.wait_for_followup(timeout=60)
        await harness.idle()
        names = [a.filename for a in message.attachments]
        assert len(names) == 2 and names[-1] == "edges.png", (width, height, message.content)
        with Image.open(io.BytesIO(message.attachments[0].data)) as image:
            assert image.size[0] >= 32 and image.size[1] >= 32
    assert harness.double.violations == []
