"""Zoom out and pan: the larger canvas, where the picture sits in it, and the feathered masks."""

from __future__ import annotations

import numpy as np
from PIL import Image

from generation.images.outpaint_geometry import feather_width, picture_box


def outpaint_canvas(picture: Image.Image, outpaint: str, size: tuple[int, int]):
    """(canvas, mask for the inpainting pipeline, blend mask) for ``picture`` in ``size``.

    The canvas holds the picture with its edge pixels stretched over the new area (a start
    the model paints over). The pipeline's mask covers the new area and a band of the
    picture's border as wide as the feather; the blend mask rises from 0 to 255 across that
    band, so the picture fades into the new area and is untouched inside it.
    """
    width, height = size
    left, top, right, bottom = picture_box(outpaint, width, height)
    pixels = np.asarray(picture.convert("RGB"))
    padded = np.pad(pixels, ((top, height - bottom), (left, width - right), (0, 0)), mode="edge")
    canvas = Image.fromarray(padded)
    band = feather_width(outpaint, width, height)
    # Distance (in pixels) from each picture pixel to the nearest edge bordering new area.
    ys, xs = np.mgrid[0 : bottom - top, 0 : right - left].astype(np.float64)
    distance = np.full(xs.shape, np.inf)
    if left > 0:
        distance = np.minimum(distance, xs)
    if right < width:
        distance = np.minimum(distance, (right - left - 1) - xs)
    if top > 0:
        distance = np.minimum(distance, ys)
    if bottom < height:
        distance = np.minimum(distance, (bottom - top - 1) - ys)
    inside = np.clip(1.0 - distance / band, 0.0, 1.0)
    alpha = np.ones((height, width))
    alpha[top:bottom, left:right] = inside
    blend = Image.fromarray((alpha * 255).round().astype(np.uint8), "L")
    hard = Image.fromarray(np.where(alpha > 0, 255, 0).astype(np.uint8), "L")
    return canvas, hard, blend
