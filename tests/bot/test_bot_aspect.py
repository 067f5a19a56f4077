"""The aspect option through the real client: typed, stored in a preset, and against size."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.job_parameters import size_or_aspect
from storage.precedence import BUILT_IN, OPTION, SERVER_DEFAULT, USER_DEFAULT
from tests.bot.conftest import png_bytes
from tests.bot.test_bot_commands import reply_of

# The tiny family's native area is 64²; its size rule is multiples of 8.
WIDE, TALL = (88, 48), (48, 88)


async def posted_size(harness, record) -> tuple[tuple[int, int], str]:
    message = await record.wait_for_followup(timeout=30)
    await harness.idle()
    [attachment] = message.attachments
    with Image.open(io.BytesIO(attachment.data)) as image:
        return image.size, message.content


async def test_aspect_typed_or_from_a_preset_and_a_typed_size_over_it(harness):
    double = harness.double
    size, caption = await posted_size(
        harness, await double.invoke("imagine", {"prompt": "a lighthouse", "aspect": "16:9"})
    )
    assert size == WIDE and "88×48" in caption

    saved = await reply_of(
        await double.invoke("preset", {"name": "tall", "aspect": "9:16"}, subcommand="save")
    )
    assert "Saved." in saved and "aspect: 9:16" in saved
    size, caption = await posted_size(
        harness, await double.invoke("imagine", {"prompt": "a tower", "preset": "tall"})
    )
    assert size == TALL and "size, aspect from preset:tall" in caption

    # A size typed now is nearer the command than the preset's aspect, so it wins.
    size, _ = await posted_size(
        harness,
        await double.invoke("imagine", {"prompt": "a tower", "preset": "tall", "size": "96x64"}),
    )
    assert size == (96, 64)

    # An upload keeps its own shape (96×64 fitted: 64×40), whatever a preset stores...
    upload = ("photo.png", png_bytes())
    size, caption = await posted_size(
        harness,
        await double.invoke("img2img", {"prompt": "a box", "image": upload, "preset": "tall"}),
    )
    assert size == (64, 40) and "from preset:tall" not in caption
    # ...unless an aspect is typed: then the upload is cropped to it.
    size, _ = await posted_size(
        harness,
        await double.invoke("img2img", {"prompt": "a box", "image": upload, "aspect": "9:16"}),
    )
    assert size == TALL
    assert double.violations == []


async def test_size_and_aspect_together_are_refused(harness):
    double = harness.double
    record = await double.invoke("imagine", {"prompt": "x", "size": "96x64", "aspect": "16:9"})
    reply = await record.wait_for_original(
        lambda m: "either size or aspect" in (m.content or ""), timeout=30
    )
    assert reply.ephemeral and record.followups == []
    refused = await reply_of(
        await double.invoke(
            "preset", {"name": "both", "size": "96x64", "aspect": "16:9"}, subcommand="save"
        )
    )
    assert "size or aspect, not both" in refused
    assert harness.runner.requests == []


@pytest.mark.parametrize(
    ("size_from", "aspect_from", "wins"),
    [
        (BUILT_IN, "preset:tall", "aspect"),
        (OPTION, "preset:tall", "size"),
        ("preset:wide", OPTION, "aspect"),
        (USER_DEFAULT, "preset:tall", "aspect"),
        ("preset:wide", SERVER_DEFAULT, "size"),
        (SERVER_DEFAULT, USER_DEFAULT, "aspect"),
        ("preset:both", "preset:both", "size"),
    ],
)
def test_the_nearer_level_picks_size_or_aspect(size_from, aspect_from, wins):
    values = {"size": "96x64", "aspect": "9:16"}
    sources = {"size": size_from, "aspect": aspect_from}
    size_or_aspect(values, sources)
    loser = "size" if wins == "aspect" else "aspect"
    assert values[wins] is not None and values[loser] is None
    assert sources[loser] == sources[wins], "the result says where the shape came from"
