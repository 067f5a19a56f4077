"""What an upscale request may ask: the factor, the kind, and the sizes in and out."""

from __future__ import annotations

from dataclasses import replace

from generation.errors import InvalidInput

SCALES = (2, 4)
KINDS = ("subtle", "creative")  # the upscaler alone; the upscaler and a tiled detail pass
# The output's longest side. The upscaler and the creative pass both work in tiles, so memory
# does not grow with it; the upload limit and the time do.
MAX_UPSCALE_SIDE = 4096


def validate_upscale(request, family, multiple: int):
    """The request with its picture at the input size and its width/height the output's."""
    from generation.images.sizing import check_size, resize_to, snap_to_multiple

    if request.scale not in SCALES:
        raise InvalidInput("scale", f"{request.scale!r} is not offered", "2 or 4")
    if request.upscale_kind not in KINDS:
        raise InvalidInput(
            "upscale_kind", f"{request.upscale_kind!r} is unknown", " or ".join(KINDS)
        )
    if request.image is None:
        raise InvalidInput("image", "upscale needs a picture", "a PNG, JPEG, WebP or GIF")
    scale = request.scale
    if request.width is not None and request.height is not None:
        width, height = int(request.width), int(request.height)
    else:
        source_w, source_h = request.image.size
        width = snap_to_multiple(source_w, multiple) * scale
        height = snap_to_multiple(source_h, multiple) * scale
        if max(width, height) > MAX_UPSCALE_SIDE:
            # Named by the picture's size: the output's is no number the user typed or chose.
            raise InvalidInput(
                "size",
                f"the picture {source_w}x{source_h} ×{scale} would be {width}x{height}",
                f"a result up to {MAX_UPSCALE_SIDE} a side, so a picture up to "
                f"{MAX_UPSCALE_SIDE // scale} a side at ×{scale}",
            )
    check_size(
        width, height, min_side=multiple * scale, max_side=MAX_UPSCALE_SIDE, multiple=multiple
    )
    if width % scale or height % scale:
        raise InvalidInput(
            "size", f"{width}x{height} is not {scale}× a whole size", f"multiples of {scale}"
        )
    image = resize_to(request.image.convert("RGB"), (width // scale, height // scale))
    return replace(request, width=width, height=height, image=image, mask=None)
