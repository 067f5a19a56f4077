"""Zoom out and pan: the larger canvas, where the picture sits in it, and the feathered masks."""

from __future__ import annotations

import numpy as np
from PIL import Image

# name → (canvas width factor, canvas height factor, where the picture sits: x, y in 0..1)
OUTPAINTS = {
    "zoom-1.5": (1.5, 1.5, 0.5, 0.5),
    "zoom-2": (2.0, 2.0, 0.5, 0.5),
    "pan-left": (1.5, 1.0, 1.0, 0.5),  # new area on the left: the picture moves right
    "pan-right": (1.5, 1.0, 0.0, 0.5),
    "pan-up": (1.0, 1.5, 0.5, 1.0),
    "pan-down": (1.0, 1.5, 0.5, 0.0),
}
# The feather reaches this share of the picture's shorter side inwards from each new edge.
FEATHER_SHARE = 8


def picture_size(outpaint: str, width: int, height: int) -> tuple[int, int]:
    """The picture's size inside a canvas of width × height."""
    fx, fy, _, _ = OUTPAINTS[outpaint]
    return round(width / fx), round(height / fy)


def picture_box(outpaint: str, width: int, height: int) -> tuple[int, int, int, int]:
    """Left, top, right, bottom of the picture in the canvas."""
    _, _, ax, ay = OUTPAINTS[outpaint]
    pw, ph = picture_size(outpaint, width, height)
    left, top = round((width - pw) * ax), round((height - ph) * ay)
    return left, top, left + pw, top + ph


def feather_width(outpaint: str, width: int, height: int) -> int:
    pw, ph = picture_size(outpaint, width, height)
    return max(4, min(pw, ph) // FEATHER_SHARE)


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
