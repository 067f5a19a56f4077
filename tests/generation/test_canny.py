"""Canny edge maps: edges where the shapes are, thresholds that matter, bad thresholds refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generation.errors import InvalidInput
from generation.images.canny import canny_edges

SIZE = (96, 80)
BOX = (24, 20, 71, 59)  # left, top, right, bottom (inclusive, as ImageDraw draws it)


def _rectangle(fill: int = 255, background: int = 0, mode: str = "RGB") -> Image.Image:
    image = Image.new("L", SIZE, background)
    ImageDraw.Draw(image).rectangle(BOX, fill=fill)
    return image.convert(mode)


def _distance_to_border(y: int, x: int) -> int:
    """Chebyshev distance from (y, x) to the rectangle's outline."""
    left, top, right, bottom = BOX
    inside = left <= x <= right and top <= y <= bottom
    if inside:
        return min(x - left, right - x, y - top, bottom - y)
    return max(left - x, x - right, top - y, y - bottom, 0)


def test_edges_lie_on_the_rectangle_border() -> None:
    edges = canny_edges(_rectangle())
    assert edges.mode == "RGB" and edges.size == SIZE
    pixels = np.asarray(edges)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    assert set(np.unique(pixels)) == {0, 255}
    on = np.argwhere(pixels[..., 0] == 255)
    # Every edge pixel sits on the outline (within one pixel) ...
    assert max(_distance_to_border(int(y), int(x)) for y, x in on) <= 1
    # ... and the outline is traced almost all the way round.
    left, top, right, bottom = BOX
    perimeter = 2 * ((right - left) + (bottom - top))
    assert len(on) >= 0.9 * perimeter


def test_flat_image_has_no_edges() -> None:
    assert np.asarray(canny_edges(Image.new("RGB", SIZE, (90, 140, 200)))).max() == 0


def test_thresholds_change_the_output() -> None:
    faint = _rectangle(fill=110, background=100)  # a step of 10 grey levels
    strict = np.asarray(canny_edges(faint, 100, 200))
    lenient = np.asarray(canny_edges(faint, 5, 10))
    assert strict.max() == 0
    assert (lenient == 255).sum() >= 100


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "1", "CMYK"])
def test_any_mode_gives_rgb_edges_of_the_same_size(mode: str) -> None:
    edges = canny_edges(_rectangle(mode=mode))
    assert edges.mode == "RGB" and edges.size == SIZE
    assert (np.asarray(edges) == 255).any()


@pytest.mark.parametrize(
    ("low", "high", "parameter"),
    [
        (-1, 200, "low_threshold"),
        (100, 256, "high_threshold"),
        (300, 400, "low_threshold"),
        (201, 200, "low_threshold"),
        (1.5, 200, "low_threshold"),
        (100, "200", "high_threshold"),
        (True, 200, "low_threshold"),
    ],
)
def test_bad_thresholds_name_the_parameter_and_the_range(low, high, parameter: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        canny_edges(_rectangle(), low, high)
    assert caught.value.parameter == parameter
    assert "0 to 255" in str(caught.value)


def test_equal_thresholds_at_the_limits_are_accepted() -> None:
    assert canny_edges(_rectangle(), 0, 0).size == SIZE
    assert canny_edges(_rectangle(), 255, 255).size == SIZE
