"""Sizes: snapping, fitting uploads into a family's range, parsing and checking typed sizes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from generation.errors import InvalidInput
from generation.images.sizing import check_size, fit_size, parse_size, resize_to, snap_to_multiple


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 8), (1, 8), (3, 8), (11, 8), (12, 16), (13, 16), (512, 512), (515, 512), (516, 520)],
)
def test_snap_to_nearest_multiple_never_below_it(value: int, expected: int) -> None:
    assert snap_to_multiple(value) == expected


def test_snap_with_other_multiples() -> None:
    assert snap_to_multiple(100, 64) == 128
    assert snap_to_multiple(95, 64) == 64
    assert snap_to_multiple(5, 64) == 64
    with pytest.raises(InvalidInput):
        snap_to_multiple(10, 0)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((512, 512), (512, 512)),  # already fine
        ((4032, 3024), (1024, 768)),  # phone photo: long side brought to max_side
        ((3024, 4032), (768, 1024)),
        ((100, 50), (512, 256)),  # small upload: short side brought up to min_side
        ((300, 300), (304, 304)),  # within range: only snapped
        ((1000, 10), (1024, 256)),  # extreme aspect: long side wins, short one clamped
        ((10, 1000), (256, 1024)),
        ((1023, 767), (1024, 768)),
    ],
)
def test_fit_size(size: tuple[int, int], expected: tuple[int, int]) -> None:
    fitted = fit_size(*size, min_side=256, max_side=1024)
    assert fitted == expected
    assert all(side % 8 == 0 and 256 <= side <= 1024 for side in fitted)


def test_fit_size_keeps_the_aspect_within_snapping() -> None:
    for width, height in [(4000, 3000), (1920, 1080), (333, 777), (640, 480), (5000, 2000)]:
        fitted_width, fitted_height = fit_size(width, height, min_side=256, max_side=1024)
        assert abs(fitted_width / fitted_height - width / height) < 0.03 * width / height


def test_fit_size_never_exceeds_an_unaligned_maximum() -> None:
    assert fit_size(2000, 2000, min_side=250, max_side=1020) == (1016, 1016)
    assert fit_size(10, 10, min_side=250, max_side=1020) == (256, 256)


def test_fit_size_rejects_empty_sides_and_impossible_ranges() -> None:
    with pytest.raises(InvalidInput):
        fit_size(0, 100, min_side=256, max_side=1024)
    with pytest.raises(InvalidInput, match="no multiple of 8"):
        fit_size(100, 100, min_side=257, max_side=263)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("768x512", (768, 512)),
        ("768×512", (768, 512)),
        ("768X512", (768, 512)),
        (" 512 x 640 ", (512, 640)),
    ],
)
def test_parse_size(text: str, expected: tuple[int, int]) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "512", "512x", "x512", "512*512", "512x512x512", "-512x512", "5.5x8", "٥١٢x٥١٢", "big"],
)
def test_parse_size_rejects_other_text(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_size(text)
    assert caught.value.parameter == "size"
    assert caught.value.allowed == "WIDTHxHEIGHT, e.g. 512x512"


def test_parse_size_does_not_echo_user_text() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_size("@everyone")
    assert "@everyone" not in str(caught.value)


def test_check_size_accepts_multiples_of_8_in_range() -> None:
    check_size(512, 768, min_side=256, max_side=1024)
    check_size(256, 1024, min_side=256, max_side=1024)


@pytest.mark.parametrize(
    ("size", "problem"),
    [
        ((500, 512), "width 500 is not a multiple of 8"),
        ((512, 1030), "height 1030 is not a multiple of 8"),
        ((248, 512), "width 248 is out of range"),
        ((512, 1032), "height 1032 is out of range"),
        ((512.0, 512), "not a whole number"),
    ],
)
def test_check_size_names_the_problem_and_the_range(size, problem: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_size(*size, min_side=256, max_side=1024, parameter="size")
    assert problem in str(caught.value)
    assert "multiple of 8 from 256 to 1024" in str(caught.value)


def test_resize_to_centre_crops_then_resizes() -> None:
    # Three vertical bands: red | green | blue, 300×100. A square target keeps only green.
    bands = np.zeros((100, 300, 3), dtype=np.uint8)
    bands[:, :100] = (255, 0, 0)
    bands[:, 100:200] = (0, 255, 0)
    bands[:, 200:] = (0, 0, 255)
    square = resize_to(Image.fromarray(bands), (64, 64))
    assert square.size == (64, 64)
    pixels = np.asarray(square).astype(int)
    # LANCZOS reads a little past the crop box, so the outermost columns may tint slightly.
    assert np.abs(pixels[:, 1:-1] - (0, 255, 0)).max() <= 2
    assert np.abs(pixels - (0, 255, 0)).max() <= 16
    wide = resize_to(Image.fromarray(bands), (96, 32))
    assert wide.size == (96, 32)
    assert np.abs(np.asarray(wide)[:, 0].astype(int) - (255, 0, 0)).max() <= 2
    assert np.abs(np.asarray(wide)[:, -1].astype(int) - (0, 0, 255)).max() <= 2


def test_resize_to_rejects_empty_size() -> None:
    with pytest.raises(InvalidInput):
        resize_to(Image.new("RGB", (8, 8)), (0, 8))
