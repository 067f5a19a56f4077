"""Small helpers shared by the pipeline tests: build validated requests, compare pictures."""

from __future__ import annotations

import numpy as np
from PIL import Image

from generation.modes import Mode
from generation.modes.requests import GenerationRequest, validate_request


def make_request(pipes, mode: Mode, photo=None, mask=None, **overrides) -> GenerationRequest:
    fields = dict(mode=mode, prompt="a red box beside a green ball", seed=1, steps=4)
    if mode.needs_image:
        fields["image"] = photo
    if mode is Mode.INPAINT:
        fields["mask"] = mask
    if mode is Mode.ANIMATE:
        fields["frames"] = 8
    fields.update(overrides)
    return validate_request(GenerationRequest(**fields), pipes.family, pipes.styles)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def first_picture(result) -> Image.Image:
    return result.images[0] if result.images else result.animations[0][0]


def run(pipes, request, **kwargs):
    (result,) = pipes.run([request], **kwargs)
    return result


def max_diff(a: Image.Image, b: Image.Image) -> int:
    return int(np.abs(pixels(a) - pixels(b)).max())
