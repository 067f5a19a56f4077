"""Safe decoding of uploaded images and masks: sniffed by content, size-capped, first frame only."""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
from PIL import Image, ImageFile, ImageOps

from generation.errors import InvalidImage

MAX_PIXELS = 16_777_216  # 16.7 MP, far below Pillow's own 89 MP warning threshold
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MIN_SIDE = 8
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
# Pillow reports a JPEG carrying extra pictures (phone cameras) as MPO; frame 0 is the JPEG.
_OPENED_FORMATS = (*ALLOWED_FORMATS, "MPO")
ALLOWED_TEXT = "PNG, JPEG, WebP or GIF"
WHITE = (255, 255, 255)

_T = TypeVar("_T")

# Magic bytes of the formats we take. Deciding by content means a PNG named .jpg still works
# and a TIFF named .png is still refused.
_ACCEPTED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
)

# Formats we recognise only to name them in the refusal; none of them is ever opened.
_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "BigTIFF"),
    (b"MM\x00+", "BigTIFF"),
    (b"8BPS", "PSD (Photoshop)"),
    (b"SIMPLE  =", "FITS"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"BM", "BMP"),
    (b"%PDF", "PDF"),
    (b"%!PS", "PostScript"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (b"PK\x03\x04", "ZIP"),
    (b"\x1f\x8b", "gzip"),
    (b"<svg", "SVG"),
    (b"<?xml", "XML/SVG"),
    (b"\x0a\x05\x01", "PCX"),
)

# Pillow plugins signal malformed input with a zoo of exception types (OSError for truncation,
# SyntaxError for bad chunks, struct.error, EOFError, ValueError from zlib limits, ...), so the
# public functions catch Exception at their boundary and report "damaged or truncated".


def decode_image(
    data: bytes,
    *,
    parameter: str = "image",
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> Image.Image:
    """Decode an upload into a loaded RGB image (first frame, EXIF-oriented, alpha on white)."""
    frame = _decode_first_frame(data, parameter, max_pixels, max_bytes)
    return _guard(parameter, to_rgb, frame)


def decode_mask(
    data: bytes,
    *,
    parameter: str = "mask",
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> Image.Image:
    """Decode a mask upload into mode "L" (luminance of the alpha-flattened first frame)."""
    frame = _decode_first_frame(data, parameter, max_pixels, max_bytes)
    return _guard(parameter, to_luminance, frame)


def alpha_mask(
    data: bytes,
    *,
    parameter: str = "image",
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> Image.Image | None:
    """Return an "L" mask, white where the upload is transparent (alpha < 128), else None.

    None means the upload has no alpha, or no pixel transparent enough to repaint.
    """
    frame = _decode_first_frame(data, parameter, max_pixels, max_bytes)
    return _guard(parameter, _transparent_area, frame)


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB, flattening alpha onto white and scaling 16-bit values."""
    if image.mode == "RGB" and not _has_alpha(image):
        return image
    # High-depth first: a 16-bit PNG's transparency key cannot be applied by convert("RGBA").
    if _is_high_depth(image):
        return Image.merge("RGB", [_high_depth_to_l(image)] * 3)
    if _has_alpha(image):
        return _flatten_on_white(image.convert("RGBA"))
    return image.convert("RGB")


def to_luminance(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to "L"; alpha is flattened onto white first, never used itself."""
    if image.mode == "L" and not _has_alpha(image):
        return image
    if image.mode == "1" and not _has_alpha(image):
        return image.convert("L")
    if _is_high_depth(image):
        return _high_depth_to_l(image)
    return to_rgb(image).convert("L")


def sniff_format(data: bytes) -> str | None:
    """Return "PNG", "JPEG", "WEBP" or "GIF" from the magic bytes, or None for anything else."""
    for magic, name in _ACCEPTED_MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _decode_first_frame(
    data: bytes, parameter: str, max_pixels: int, max_bytes: int
) -> Image.Image:
    """Run every safety check and return the loaded, EXIF-transposed first frame."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone switched this on process-wide; decoding now would accept half-grey pictures.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    fmt = _check_bytes(data, parameter, max_bytes)
    # WebP is checked from its own header because libwebp allocates the whole canvas as soon
    # as Pillow opens the file, before we could look at Image.size.
    if fmt == "WEBP":
        size = _webp_canvas_size(data)
        if size is not None:
            _check_dimensions(*size, parameter=parameter, max_pixels=max_pixels)
    with _bombs_are_errors():
        image = _open_lazily(data, fmt, parameter, max_pixels)
        # Image.open has only read the header, so this costs nothing for a bomb.
        _check_dimensions(*image.size, parameter=parameter, max_pixels=max_pixels)
        return _guard(parameter, _load_first_frame, image)


def _check_bytes(data: bytes, parameter: str, max_bytes: int) -> str:
    """Refuse empty, oversized or unsupported uploads; return the sniffed format."""
    if not data:
        raise InvalidImage(parameter, "the upload is empty", f"a {ALLOWED_TEXT} file")
    if len(data) > max_bytes:
        raise InvalidImage(
            parameter,
            f"the upload is {_mib(len(data))}",
            f"files up to {_mib(max_bytes)}",
        )
    fmt = sniff_format(data)
    if fmt is None:
        raise InvalidImage(parameter, _describe_unknown(data), ALLOWED_TEXT)
    return fmt


def _describe_unknown(data: bytes) -> str:
    """Name a refused format when we recognise it, so the user knows what to convert."""
    for magic, name in _REFUSED_MAGIC:
        if data.startswith(magic):
            return f"{name} files cannot be used"
    return "the file's content is not an image format we take"


@contextmanager
def _bombs_are_errors() -> Iterator[None]:
    """Turn Pillow's DecompressionBombWarning into an error for this block only.

    catch_warnings restores the previous filters on exit, so global state is untouched.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _open_lazily(data: bytes, fmt: str, parameter: str, max_pixels: int) -> Image.Image:
    """Image.open restricted to the sniffed plugin; it reads the header, not the pixels."""
    try:
        image = Image.open(io.BytesIO(data), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb(parameter, max_pixels) from None
    except Exception:
        raise _damaged(parameter) from None
    if image.format not in _OPENED_FORMATS:
        raise InvalidImage(parameter, f"{image.format} images cannot be used", ALLOWED_TEXT)
    return image


def _check_dimensions(width: int, height: int, *, parameter: str, max_pixels: int) -> None:
    """Refuse images over the pixel cap or under MIN_SIDE on either side."""
    if width * height > max_pixels:
        raise InvalidImage(
            parameter,
            f"{width}×{height} is {width * height:,} pixels",
            _pixel_limit_text(max_pixels),
        )
    if width < MIN_SIDE or height < MIN_SIDE:
        raise InvalidImage(
            parameter,
            f"{width}×{height} is too small",
            f"at least {MIN_SIDE}×{MIN_SIDE} pixels",
        )


def _load_first_frame(image: Image.Image) -> Image.Image:
    """Decode frame 0 only (never iterate frames) and apply EXIF orientation."""
    image.seek(0)
    image.load()
    oriented = ImageOps.exif_transpose(image)
    oriented.load()
    return oriented


def _guard(parameter: str, step: Callable[[Image.Image], _T], image: Image.Image) -> _T:
    """Run one decoding step, turning any Pillow/numpy failure into InvalidImage."""
    try:
        return step(image)
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb(parameter) from None
    except Exception:
        raise _damaged(parameter) from None


def _bomb(parameter: str, max_pixels: int = MAX_PIXELS) -> InvalidImage:
    return InvalidImage(
        parameter,
        "the header claims a far larger picture than allowed",
        _pixel_limit_text(max_pixels),
    )


def _damaged(parameter: str) -> InvalidImage:
    return InvalidImage(
        parameter, "the file is damaged or truncated", f"a complete {ALLOWED_TEXT} file"
    )


def _has_alpha(image: Image.Image) -> bool:
    """True for alpha modes and for palette/grey/RGB images with a transparency key."""
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _is_high_depth(image: Image.Image) -> bool:
    return image.mode.startswith("I") or image.mode == "F"


def _flatten_on_white(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGB", rgba.size, WHITE)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _high_depth_to_l(image: Image.Image) -> Image.Image:
    """Map 16/32-bit integer images (PNG 16-bit grey) and float images to 8-bit grey.

    Pillow's own convert() clips 16-bit values at 255, turning most of a 16-bit picture white,
    so integer modes are scaled from 0..65535. Float images are taken as 0..255, as Pillow does.
    """
    values = np.asarray(image, dtype=np.float64)
    if image.mode != "F":
        values = values / 257.0
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")


def _transparent_area(image: Image.Image) -> Image.Image | None:
    if _is_high_depth(image) or not _has_alpha(image):
        return None
    alpha = image.convert("RGBA").getchannel("A")
    mask = alpha.point([255] * 128 + [0] * 128)
    return mask if mask.getbbox() is not None else None


def _webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """Read width and height from a WebP's VP8X, VP8L or VP8 header; None if unreadable."""
    chunk = data[12:16]
    try:
        if chunk == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            height = int.from_bytes(data[27:30], "little") + 1
            return width, height
        if chunk == b"VP8L":
            (bits,) = struct.unpack("<I", data[21:25])
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return width & 0x3FFF, height & 0x3FFF
    except struct.error:
        return None
    return None


def _pixel_limit_text(max_pixels: int) -> str:
    return f"at most {max_pixels:,} pixels ({max_pixels / 1e6:.1f} MP), e.g. 4096×4096"


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"
