"""What an outpaint request may ask: the zoom or pan, and the canvas and picture sizes it gets."""

from __future__ import annotations

from dataclasses import replace

from generation.errors import InvalidInput
from generation.images.outpaint_geometry import OUTPAINTS, picture_size
from generation.images.sizing import check_size, resize_to, snap_to_multiple


def validate_outpaint(request, family, multiple: int):
    """The request with width/height the canvas (fitted to the family) and the picture sized
    to its place in it; the same canvas size in gives the same request out (restart-safe)."""
    if request.outpaint not in OUTPAINTS:
        raise InvalidInput("outpaint", f"{request.outpaint!r} is unknown", ", ".join(OUTPAINTS))
    if request.image is None:
        raise InvalidInput("image", "zoom out and pan need a picture", "a PNG, JPEG, WebP or GIF")
    fx, fy, _, _ = OUTPAINTS[request.outpaint]
    if request.width is not None and request.height is not None:
        width, height = int(request.width), int(request.height)
    else:
        picture_w, picture_h = request.image.size
        width = snap_to_multiple(round(picture_w * fx), multiple)
        height = snap_to_multiple(round(picture_h * fy), multiple)
        shrink = family.max_side / max(width, height)
        if shrink < 1:  # the canvas must fit the model: the picture gets smaller instead
            width = max(multiple, int(width * shrink) // multiple * multiple)
            height = max(multiple, int(height * shrink) // multiple * multiple)
    check_size(width, height, min_side=family.min_side, max_side=family.max_side, multiple=multiple)
    image = resize_to(request.image.convert("RGB"), picture_size(request.outpaint, width, height))
    return replace(request, width=width, height=height, image=image, mask=None)
