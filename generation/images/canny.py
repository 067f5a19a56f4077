"""Canny edge maps for the ControlNet canny conditioning image."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from generation.errors import InvalidImage, InvalidInput
from generation.images.image_decode import to_rgb

_THRESHOLD_RANGE = "a whole number from 0 to 255, with low_threshold <= high_threshold"


def canny_edges(
    image: Image.Image, low: int = 100, high: int = 200, *, invert: bool = False
) -> Image.Image:
    """Return an RGB image of the same size: white edges on black (black on white if ``invert``)."""
    _check_thresholds(low, high)
    try:
        grey = cv2.cvtColor(np.asarray(to_rgb(image)), cv2.COLOR_RGB2GRAY)
        edges = cv2.Canny(grey, low, high)
    except (cv2.error, ValueError, TypeError):
        # cv2 refuses empty or malformed arrays; report it as an image problem, not a crash.
        raise InvalidImage("image", "edges could not be computed", "a non-empty image") from None
    if invert:  # the canny loop's "Invert edges": the model then reads the spaces as the lines
        edges = 255 - edges
    # ControlNet expects three identical channels.
    return Image.fromarray(np.stack([edges] * 3, axis=-1), "RGB")


def _check_thresholds(low: int, high: int) -> None:
    for name, value in (("low_threshold", low), ("high_threshold", high)):
        # bool is an int subclass; True as a threshold is a caller bug, not a 1.
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InvalidInput(name, f"{value!r} is not a whole number", _THRESHOLD_RANGE)
        if not 0 <= value <= 255:
            raise InvalidInput(name, f"{value} is outside 0..255", _THRESHOLD_RANGE)
    if low > high:
        raise InvalidInput(
            "low_threshold", f"{low} is above high_threshold {high}", _THRESHOLD_RANGE
        )
