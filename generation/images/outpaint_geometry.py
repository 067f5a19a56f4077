"""Zoom out and pan as geometry: the canvas each one makes and where the picture sits in it.

Plain numbers, no image library: the command line offers these names without loading numpy.
"""

from __future__ import annotations

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
