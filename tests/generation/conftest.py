"""Fixtures for the generation tests: pictures and masks (the tiny families live in tests/)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """A 64×64 picture with shapes, so edges and masks have something to find."""
    rng = np.random.default_rng(7)
    image = Image.fromarray((rng.random((64, 64, 3)) * 80 + 60).astype("uint8"))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 12, 40, 50), fill=(230, 40, 40))
    draw.ellipse((30, 8, 58, 36), fill=(40, 200, 90))
    return image


@pytest.fixture(scope="session")
def centre_mask() -> Image.Image:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    return mask
