"""Picking, parsing and checking image sizes so that no odd shape ever reaches the GPU."""

from __future__ import annotations

import math
import re

from PIL import Image, ImageOps

from generation.errors import InvalidInput

SIZE_FORMAT = "WIDTHxHEIGHT, e.g. 512x512"
# ASCII digits only: int() would also accept other scripts' digits, which nobody means here.
_SIZE_PATTERN = re.compile(r"\s*(\d{1,5})\s*[x×X]\s*(\d{1,5})\s*", re.ASCII)


# The aspect choices, width:height. Each keeps the family's native pixel area (default_size²).
ASPECTS = ("1:1", "4:5", "2:3", "3:4", "4:3", "3:2", "16:9", "9:16", "21:9")
_ASPECT_PATTERN = re.compile(r"\s*(\d{1,2})\s*:\s*(\d{1,2})\s*", re.ASCII)


def parse_aspect(text: str) -> tuple[int, int]:
    """Read one of ASPECTS, e.g. "16:9", as (16, 9)."""
    match = _ASPECT_PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None or f"{match.group(1)}:{match.group(2)}" not in ASPECTS:
        raise InvalidInput("aspect", "is not one of the choices", ", ".join(ASPECTS))
    return int(match.group(1)), int(match.group(2))


def aspect_size(
    aspect: str, *, native_side: int, min_side: int, max_side: int, multiple: int = 8
) -> tuple[int, int]:
    """The working size for ``aspect`` at about ``native_side``² pixels, each side a multiple.

    The short side is snapped first and the long side is the multiple nearest short × ratio, so
    the ratio is off by at most half a snap step of the long side. When the long side would pass
    ``max_side`` it is pinned to the largest allowed multiple and the short side follows it.
    """
    ratio_w, ratio_h = parse_aspect(aspect)
    low, high = _snapped_bounds(min_side, max_side, multiple)
    stretch = max(ratio_w, ratio_h) / min(ratio_w, ratio_h)  # long side / short side, >= 1
    short = native_side / math.sqrt(stretch)
    if short * stretch <= high:
        short_side = min(high, max(low, snap_to_multiple(round(short), multiple)))
        long_side = snap_to_multiple(round(short_side * stretch), multiple)
    else:
        long_side = high
        short_side = snap_to_multiple(round(high / stretch), multiple)
    long_side = min(high, max(low, long_side))
    short_side = min(high, max(low, short_side))
    return (long_side, short_side) if ratio_w >= ratio_h else (short_side, long_side)


def snap_to_multiple(value: int, multiple: int = 8) -> int:
    """Round to the nearest multiple (halves round up), never below ``multiple`` itself."""
    if multiple < 1:
        raise InvalidInput("multiple", f"{multiple} is not positive", "a whole number >= 1")
    nearest = (int(value) + multiple // 2) // multiple * multiple
    return max(multiple, nearest)


def fit_size(
    width: int, height: int, *, min_side: int, max_side: int, multiple: int = 8
) -> tuple[int, int]:
    """Scale an upload's size, keeping its aspect, so both sides fit [min_side, max_side].

    Each side is then snapped to ``multiple`` and clamped. When the aspect is too extreme for
    both limits (e.g. 5000×8), the long side wins and the short one is clamped up; resize_to
    then centre-crops, so the picture is never squashed.
    """
    if width < 1 or height < 1:
        raise InvalidInput("size", f"{width}x{height} has an empty side", "positive sides")
    low, high = _snapped_bounds(min_side, max_side, multiple)
    scale = 1.0
    if max(width, height) > max_side:
        scale = max_side / max(width, height)
    elif min(width, height) < min_side:
        scale = min(min_side / min(width, height), max_side / max(width, height))
    fitted_width = min(high, max(low, snap_to_multiple(round(width * scale), multiple)))
    fitted_height = min(high, max(low, snap_to_multiple(round(height * scale), multiple)))
    return fitted_width, fitted_height


def parse_size(text: str) -> tuple[int, int]:
    """Read "768x512" (also "768×512" or "768X512") as (768, 512)."""
    match = _SIZE_PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        # The user's text is not echoed back: it could carry mentions or be very long.
        raise InvalidInput("size", "could not read two whole numbers from it", SIZE_FORMAT)
    return int(match.group(1)), int(match.group(2))


def check_size(
    width: int,
    height: int,
    *,
    min_side: int,
    max_side: int,
    parameter: str = "size",
    multiple: int = 8,
) -> None:
    """Raise InvalidInput unless both sides are multiples of ``multiple`` within the bounds."""
    allowed = f"each side a multiple of {multiple} from {min_side} to {max_side}"
    for name, side in (("width", width), ("height", height)):
        if isinstance(side, bool) or not isinstance(side, int):
            raise InvalidInput(parameter, f"{name} {side!r} is not a whole number", allowed)
        if side % multiple:
            raise InvalidInput(parameter, f"{name} {side} is not a multiple of {multiple}", allowed)
        if not min_side <= side <= max_side:
            raise InvalidInput(parameter, f"{name} {side} is out of range", allowed)


def resize_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Centre-crop to the target aspect, then resize with LANCZOS to exactly ``size``."""
    width, height = size
    if width < 1 or height < 1:
        raise InvalidInput("size", f"{width}x{height} has an empty side", "positive sides")
    if image.size == (width, height):
        return image.copy()
    return ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def _snapped_bounds(min_side: int, max_side: int, multiple: int) -> tuple[int, int]:
    """Smallest and largest multiples of ``multiple`` inside [min_side, max_side]."""
    if multiple < 1:
        raise InvalidInput("multiple", f"{multiple} is not positive", "a whole number >= 1")
    low = max(multiple, -(-min_side // multiple) * multiple)
    high = max_side // multiple * multiple
    if low > high:
        raise InvalidInput(
            "max_side",
            f"no multiple of {multiple} lies between {min_side} and {max_side}",
            "min_side <= max_side, at least one multiple apart",
        )
    return low, high
