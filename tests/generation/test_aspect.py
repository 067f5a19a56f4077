"""The aspect choices: each family's native area, in the stated shape, by each mode's size rule."""

from __future__ import annotations

import pytest
from PIL import Image

from generation.errors import InvalidInput
from generation.images.sizing import ASPECTS, aspect_size, parse_aspect
from generation.models.families import HUB_FAMILIES
from generation.modes import Mode, supported_modes
from generation.modes.requests import GenerationRequest, validate_request

CASES = [
    (family, mode, aspect)
    for family in HUB_FAMILIES.values()
    for mode in supported_modes(family)
    if not mode.spec.grows_picture  # upscale and outpaint: the picture sets the size
    for aspect in ASPECTS
]


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return Image.new("RGB", (40, 30), (40, 90, 200))


@pytest.mark.parametrize(
    ("family", "mode", "aspect"), CASES, ids=[f"{f.name}-{m}-{a}" for f, m, a in CASES]
)
def test_each_aspect_is_the_stated_shape_at_the_native_area(family, mode, aspect, picture):
    """Through validate_request, as every command's job goes: the aspect alone sets the size."""
    mask = Image.new("L", picture.size, 255)
    request = validate_request(
        GenerationRequest(
            mode=mode,
            prompt="a harbour at dawn",
            aspect=aspect,
            image=picture if mode.needs_image else None,  # the upload's shape does not count
            mask=mask if "mask" in mode.spec.inputs else None,
        ),
        family,
    )
    width, height = request.width, request.height
    step = mode.spec.size_multiple(family.architecture)
    ratio_w, ratio_h = parse_aspect(aspect)
    ratio = ratio_w / ratio_h
    assert width % step == 0 and height % step == 0, (width, height, step)
    # Within one snap step: one side is within a step of what the other side and the ratio ask.
    assert min(abs(width - ratio * height), abs(height - width / ratio)) <= step, (width, height)
    assert (width >= height) == (ratio_w >= ratio_h)
    native = family.default_size**2
    assert abs(width * height - native) <= 0.10 * native, (width, height)
    assert family.min_side <= min(width, height) and max(width, height) <= family.max_side
    if mode.needs_image:
        assert request.image.size == (width, height), "the upload is cropped to the aspect"


def test_a_given_size_wins_over_the_aspect():
    family = HUB_FAMILIES["sd15"]
    request = GenerationRequest(Mode.TXT2IMG, "x", width=512, height=768, aspect="16:9")
    assert validate_request(request, family).width == 512


def test_the_largest_side_pins_a_very_wide_aspect():
    size = aspect_size("21:9", native_side=1024, min_side=512, max_side=1536, multiple=16)
    assert size == (1536, 656)


@pytest.mark.parametrize("text", ["5:4", "16/9", "", "16:9:1", "١٦:٩"])
def test_only_the_listed_aspects_are_read(text):
    with pytest.raises(InvalidInput, match="aspect"):
        parse_aspect(text)
