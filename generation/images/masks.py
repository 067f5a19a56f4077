"""Turning an uploaded inpaint mask into a binary "L" mask that lines up with the init image."""

from __future__ import annotations

from PIL import Image

from generation.errors import InvalidImage
from generation.images.image_decode import to_luminance

# Aspect ratios may differ by this much (rounding of an exported or scaled mask) before we refuse.
ASPECT_TOLERANCE = 0.01
_MASK_RULE = "white (light) where the image should be repainted, black where it should be kept"
# Lookup table for Image.point: 0..127 -> keep (0), 128..255 -> repaint (255).
_BINARY_LUT = [0] * 128 + [255] * 128


def prepare_mask(
    mask: Image.Image, size: tuple[int, int], *, parameter: str = "mask"
) -> Image.Image:
    """Return a binary "L" mask (255 = repaint) of exactly ``size`` = (width, height)."""
    width, height = size
    _check_aspect(mask.size, (width, height), parameter)
    try:
        binary = to_luminance(mask).point(_BINARY_LUT)
    except Exception:
        # to_luminance handles every mode Pillow produces; anything else is a broken object.
        raise InvalidImage(
            parameter, f"masks in mode {mask.mode} cannot be used", _MASK_RULE
        ) from None
    if binary.getbbox() is None:
        raise InvalidImage(
            parameter, "the mask is all black, so there is nothing to repaint", _MASK_RULE
        )
    # NEAREST keeps the mask binary and moves no edge by more than half a source pixel.
    resized = binary.resize((width, height), Image.Resampling.NEAREST)
    if resized.getbbox() is None:
        raise InvalidImage(
            parameter,
            f"the white area is too small to survive scaling the mask to {width}×{height}",
            "a larger white area",
        )
    return resized


def _check_aspect(mask_size: tuple[int, int], init_size: tuple[int, int], parameter: str) -> None:
    """Refuse a mask whose shape differs from the init's: it could not line up pixel for pixel."""
    mask_width, mask_height = mask_size
    init_width, init_height = init_size
    if min(mask_size) < 1 or min(init_size) < 1:
        raise InvalidImage(parameter, "the mask or the image is empty", "non-empty images")
    # Cross-multiplied to compare the two ratios without dividing by a tiny height.
    difference = abs(mask_width * init_height - init_width * mask_height)
    if difference > ASPECT_TOLERANCE * init_width * mask_height:
        raise InvalidImage(
            parameter,
            f"the mask is {mask_width}×{mask_height} but the image is {init_width}×{init_height},"
            " so they cannot line up",
            "a mask with the same aspect ratio as the image (best: the same size)",
        )


def paste_outside_mask(
    original: Image.Image, generated: Image.Image, mask: Image.Image
) -> Image.Image:
    """Keep ``original`` exactly where ``mask`` is black; feather the repainted area's edge.

    The inpainting model re-encodes the whole picture, so the kept area would come back a little
    blurred and shifted in colour. The feather only reaches inward (it is capped by the mask),
    so the kept pixels stay the user's own while the seam inside the mask is softened.
    """
    from PIL import ImageChops, ImageFilter

    radius = max(1, min(mask.size) // 64)
    alpha = mask.convert("L")
    feathered = ImageChops.darker(alpha, alpha.filter(ImageFilter.GaussianBlur(radius)))
    return Image.composite(generated.convert("RGB"), original.convert("RGB"), feathered)
