"""A generated corpus of hostile uploads: bombs, truncations, byte flips, wrong formats and more."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Iterator
from functools import cache, lru_cache

import numpy as np
from PIL import Image

# Expectations: "image" must decode to a correct RGB image, "error" must raise InvalidImage,
# "either" (byte flips only) may do either, since a flipped pixel byte is still a valid file.
IMAGE, ERROR, EITHER = "image", "error", "either"
Sample = tuple[str, bytes, str]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Formats and the Pillow save options used for the base files that get truncated and flipped.
BASE_FORMATS: dict[str, tuple[str, dict]] = {
    "png": ("PNG", {}),
    "jpeg": ("JPEG", {"quality": 90}),
    "webp-lossy": ("WEBP", {"quality": 80}),
    "webp-lossless": ("WEBP", {"lossless": True}),
    "gif": ("GIF", {}),
}
# Bytes at the end of a file that carry no pixels (PNG IEND, JPEG EOI, GIF trailer): cutting
# only there may legitimately leave a complete image, so truncations stop this far from the end.
TAIL_MARGIN = 32
FLIPS_PER_FORMAT = 15
MANY_FRAMES = 10_000


def corpus() -> list[Sample]:
    """Every hostile sample as (name, bytes, expectation); names are unique."""
    return list(_cached_corpus())


@lru_cache(maxsize=1)
def _cached_corpus() -> tuple[Sample, ...]:
    samples = [
        *_base_files(),
        *_truncations(),
        *_byte_flips(),
        *_wrong_formats(),
        *_mislabeled(),
        *bombs(),
        *_animated(),
        *_exif_orientations(),
        *_odd_modes(),
        *_extreme_sizes(),
    ]
    names = [name for name, _, _ in samples]
    assert len(names) == len(set(names)), "corpus names must be unique"
    return tuple(samples)


# ----- images the samples are built from -------------------------------------------------------


def noise_image(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    """Noise over a gradient: real pixel data all through the file, so cuts land in pixels."""
    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 160, width, dtype=np.float64)[None, :, None]
    noise = rng.integers(0, 96, (height, width, 3))
    return Image.fromarray((gradient + noise).astype(np.uint8), "RGB")


def asymmetric_image() -> Image.Image:
    """24×16 image whose every flip/rotation differs: four flat quadrants and a corner mark."""
    pixels = np.zeros((16, 24, 3), dtype=np.uint8)
    pixels[:8, :12] = (220, 30, 30)
    pixels[:8, 12:] = (30, 200, 30)
    pixels[8:, :12] = (30, 30, 220)
    pixels[8:, 12:] = (230, 230, 40)
    pixels[:4, :4] = (255, 255, 255)
    return Image.fromarray(pixels, "RGB")


def stored_for_orientation(display: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels a camera stores so that EXIF ``orientation`` displays as ``display``.

    Written from the EXIF definitions (6 = "rotate 90° clockwise to view", 8 = "rotate 270°
    clockwise", 5/7 = mirrored diagonals) with numpy, independently of Pillow's own table.
    """
    stored = {
        1: lambda a: a,
        2: np.fliplr,
        3: lambda a: np.rot90(a, 2),
        4: np.flipud,
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, 1),
        7: lambda a: np.rot90(np.swapaxes(a, 0, 1), 2),
        8: lambda a: np.rot90(a, -1),
    }[orientation](display)
    return np.ascontiguousarray(stored)


def save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@cache
def base_file(key: str) -> bytes:
    fmt, options = BASE_FORMATS[key]
    return save(noise_image(), fmt, **options)


# ----- hand-built containers -------------------------------------------------------------------


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_header_only(width: int, height: int, color_type: int = 2) -> bytes:
    """A tiny PNG whose IHDR claims width×height; the IDAT holds almost nothing."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def png_all_black(width: int, height: int) -> bytes:
    """A complete, valid greyscale PNG of zeros, compressed row by row (tiny on disk)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", body)
        + png_chunk(b"IEND", b"")
    )


def png_with_compressed_chunk(kind: bytes, prefix: bytes, inflated_size: int) -> bytes:
    """A small valid PNG plus a zTXt/iCCP chunk that inflates to ``inflated_size`` zeros."""
    compressor = zlib.compressobj(9)
    block = b"\x00" * (1 << 20)
    chunks = [compressor.compress(block) for _ in range(inflated_size >> 20)]
    bomb = prefix + b"".join(chunks) + compressor.flush()
    valid = save(noise_image(16, 16), "PNG")
    header_end = len(PNG_SIGNATURE) + 25  # signature + IHDR chunk
    return valid[:header_end] + png_chunk(kind, bomb) + valid[header_end:]


def gif_lzw(indices: list[int]) -> bytes:
    """LZW image data for a 4-colour GIF, emitting a clear code every two pixels.

    Clearing that often keeps every code 3 bits wide, which any decoder must accept; it is the
    "uncompressed GIF" trick and needs no real LZW dictionary.
    """
    codes: list[int] = []
    for start in range(0, len(indices), 2):
        codes += [4, *indices[start : start + 2]]
    codes.append(5)
    packed = bytearray()
    buffer = bits = 0
    for code in codes:
        buffer |= code << bits
        bits += 3
        while bits >= 8:
            packed.append(buffer & 0xFF)
            buffer >>= 8
            bits -= 8
    if bits:
        packed.append(buffer & 0xFF)
    blocks = bytearray([2])  # minimum code size
    for start in range(0, len(packed), 255):
        piece = packed[start : start + 255]
        blocks += bytes([len(piece)]) + piece
    return bytes(blocks + b"\x00")


GIF_PALETTE = (0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 0, 255)


def gif_file(
    frames: list[list[int]],
    size: tuple[int, int] = (8, 8),
    screen: tuple[int, int] | None = None,
    delay_cs: int = 2,
) -> bytes:
    """An animated GIF with the 4-colour GIF_PALETTE; each frame is a list of palette indices."""
    width, height = size
    screen_width, screen_height = screen or size
    palette = bytes(channel for colour in GIF_PALETTE for channel in colour)
    out = bytearray(b"GIF89a")
    out += struct.pack("<HHBBB", screen_width, screen_height, 0x81, 0, 0) + palette
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    for frame in frames:
        out += b"\x21\xf9\x04\x04" + struct.pack("<H", delay_cs) + b"\x00\x00"
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + gif_lzw(frame)
    return bytes(out + b";")


def riff_chunk(kind: bytes, payload: bytes) -> bytes:
    padding = b"\x00" if len(payload) % 2 else b""
    return kind + struct.pack("<I", len(payload)) + payload + padding


def vp8l_chunk(image: Image.Image) -> bytes:
    """The VP8L chunk of a lossless still WebP that Pillow wrote for ``image``."""
    data = save(image, "WEBP", lossless=True)
    assert data[12:16] == b"VP8L", "expected a simple lossless WebP"
    return data[12:]


def webp_animation(frame_chunks: list[bytes], size: tuple[int, int], canvas=None) -> bytes:
    """An animated WebP (VP8X + ANIM + one ANMF per frame chunk), built by hand."""
    width, height = size
    canvas_width, canvas_height = canvas or size

    def u24(value: int) -> bytes:
        return value.to_bytes(3, "little")

    vp8x = bytes([0x02, 0, 0, 0]) + u24(canvas_width - 1) + u24(canvas_height - 1)
    body = riff_chunk(b"VP8X", vp8x) + riff_chunk(b"ANIM", b"\x00\x00\x00\x00\x00\x00")
    for chunk in frame_chunks:
        header = u24(0) + u24(0) + u24(width - 1) + u24(height - 1) + u24(20) + b"\x00"
        body += riff_chunk(b"ANMF", header + chunk)
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


# ----- the samples -----------------------------------------------------------------------------


def _base_files() -> Iterator[Sample]:
    for key in BASE_FORMATS:
        yield f"base/{key}", base_file(key), IMAGE


def truncation_offsets(length: int) -> list[int]:
    """Cuts in the signature, the headers and all through the pixel data."""
    early = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 33, 40, 50, 64, 90]
    last = length - TAIL_MARGIN
    spread = [round(100 + (last - 100) * step / 9) for step in range(10)]
    return sorted({offset for offset in early + spread if offset < last})


def _truncations() -> Iterator[Sample]:
    for key in BASE_FORMATS:
        data = base_file(key)
        for offset in truncation_offsets(len(data)):
            yield f"truncated/{key}@{offset}", data[:offset], ERROR


def _byte_flips() -> Iterator[Sample]:
    rng = random.Random(20240607)
    for key in BASE_FORMATS:
        data = base_file(key)
        for _ in range(FLIPS_PER_FORMAT):
            position = rng.randrange(len(data))
            flipped = bytearray(data)
            flipped[position] ^= rng.randrange(1, 256)
            yield f"flipped/{key}@{position}", bytes(flipped), EITHER


def _fits_header() -> bytes:
    cards = ["SIMPLE  = T", "BITPIX  = 8", "NAXIS   = 2", "NAXIS1  = 16", "NAXIS2  = 16", "END"]
    header = "".join(card.ljust(80) for card in cards).ljust(2880).encode("ascii")
    return header + bytes(2880)


def _psd_header() -> bytes:
    # Signature, version 1, 6 reserved bytes, 3 channels, 16×16, 8 bits, RGB; empty sections.
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 16, 16, 8, 3)
    return header + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0) + bytes(16 * 16 * 3)


def _wrong_formats() -> Iterator[Sample]:
    image = noise_image(32, 32)
    yield "wrong/tiff", save(image, "TIFF"), ERROR
    yield "wrong/tiff-big-endian", b"MM\x00*" + bytes(64), ERROR
    yield "wrong/psd", _psd_header(), ERROR
    yield "wrong/fits", _fits_header(), ERROR
    yield "wrong/ico", save(image, "ICO"), ERROR
    yield "wrong/bmp", save(image, "BMP"), ERROR
    yield "wrong/pdf", save(image, "PDF"), ERROR
    yield "wrong/ppm", save(image, "PPM"), ERROR
    yield "wrong/pcx", save(image, "PCX"), ERROR
    yield "wrong/tga", save(image, "TGA"), ERROR
    yield "wrong/jpeg2000", save(image, "JPEG2000"), ERROR
    yield "wrong/plain-text", b"hello, this is not an image\n" * 4, ERROR
    yield "wrong/html", b"<!doctype html><html><body><img src=x></body></html>", ERROR
    yield "wrong/svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>', ERROR
    yield "wrong/empty", b"", ERROR
    yield "wrong/zip-of-png", b"PK\x03\x04" + base_file("png"), ERROR
    yield "wrong/gzip-of-png", zlib.compress(base_file("png")), ERROR
    yield "wrong/riff-wave", b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32), ERROR
    yield "wrong/png-magic-then-garbage", PNG_SIGNATURE + bytes(range(256)), ERROR
    yield "wrong/jpeg-magic-only", b"\xff\xd8\xff", ERROR
    yield "wrong/gif-magic-only", b"GIF89a", ERROR
    yield "wrong/webp-riff-only", b"RIFF\x04\x00\x00\x00WEBP", ERROR
    rng = random.Random(7)
    for length in (1, 7, 64, 1000, 65536):
        yield f"wrong/random-{length}", rng.randbytes(length), ERROR


def _mislabeled() -> Iterator[Sample]:
    # Names never matter: the same bytes decode whatever the upload was called.
    yield "mislabeled/png-named.jpg", base_file("png"), IMAGE
    yield "mislabeled/jpeg-named.png", base_file("jpeg"), IMAGE
    yield "mislabeled/webp-named.gif", base_file("webp-lossy"), IMAGE
    yield "mislabeled/gif-named.webp", base_file("gif"), IMAGE


def bombs() -> list[Sample]:
    """Small files whose headers claim enormous pictures; all must be refused from the header."""
    jpeg = save(noise_image(16, 16), "JPEG")
    lossless = vp8l_chunk(noise_image(8, 8))
    frame = [0] * 64
    return [
        ("bomb/png-60000x60000", png_header_only(60000, 60000), ERROR),
        ("bomb/png-5000x5000", png_header_only(5000, 5000), ERROR),
        ("bomb/png-1x2147483647", png_header_only(1, 2**31 - 1), ERROR),
        ("bomb/png-real-4097x4096", png_all_black(4097, 4096), ERROR),
        ("bomb/png-ztxt-20MiB", png_with_compressed_chunk(b"zTXt", b"c\x00\x00", 20 << 20), ERROR),
        ("bomb/png-iccp-20MiB", png_with_compressed_chunk(b"iCCP", b"p\x00\x00", 20 << 20), ERROR),
        ("bomb/gif-screen-65535", gif_file([frame], screen=(65535, 65535)), ERROR),
        ("bomb/gif-screen-5000", gif_file([frame], screen=(5000, 5000)), ERROR),
        ("bomb/gif-frame-65535", gif_file([frame], size=(65535, 65535), screen=(8, 8)), ERROR),
        ("bomb/jpeg-65500x65500", _patch_jpeg_size(jpeg, 65500, 65500), ERROR),
        ("bomb/jpeg-5000x5000", _patch_jpeg_size(jpeg, 5000, 5000), ERROR),
        ("bomb/webp-vp8l-16384", _patch_vp8l_size(lossless, 16384, 16384), ERROR),
        ("bomb/webp-vp8x-16384", webp_animation([lossless], (8, 8), (16384, 16384)), ERROR),
        ("bomb/webp-vp8x-5000", webp_animation([lossless], (8, 8), (5000, 5000)), ERROR),
    ]


def _patch_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the SOF0 marker's height and width fields."""
    position = data.index(b"\xff\xc0")
    return data[: position + 5] + struct.pack(">HH", height, width) + data[position + 9 :]


def _patch_vp8l_size(chunk: bytes, width: int, height: int) -> bytes:
    """A still lossless WebP whose VP8L header claims width×height (14 bits each)."""
    header = int.from_bytes(chunk[9:13], "little")
    header = (header & ~0x0FFFFFFF) | (width - 1) | ((height - 1) << 14)
    patched = chunk[:9] + header.to_bytes(4, "little") + chunk[13:]
    return b"RIFF" + struct.pack("<I", len(patched) + 4) + b"WEBP" + patched


def many_frame_gif(count: int = MANY_FRAMES) -> bytes:
    """8×8 frames alternating white-on-black and black-on-white; frame 0 has a white left half."""
    first = [1 if column < 4 else 0 for _ in range(8) for column in range(8)]
    second = [1 - index for index in first]
    return gif_file([first if index % 2 == 0 else second for index in range(count)])


def many_frame_webp(count: int = MANY_FRAMES) -> bytes:
    """8×8 lossless frames alternating a red and a blue picture; frame 0 is red."""
    red = vp8l_chunk(Image.new("RGB", (8, 8), (255, 0, 0)))
    blue = vp8l_chunk(Image.new("RGB", (8, 8), (0, 0, 255)))
    return webp_animation([red if index % 2 == 0 else blue for index in range(count)], (8, 8))


FIRST_FRAME_COLOUR = (255, 0, 0)


def three_frames() -> list[Image.Image]:
    return [
        Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))
    ]


def _animated() -> Iterator[Sample]:
    frames = three_frames()
    options = {"save_all": True, "append_images": frames[1:], "duration": 100, "loop": 0}
    yield "animated/gif-3-frames", save(frames[0], "GIF", **options), IMAGE
    yield "animated/webp-3-frames", save(frames[0], "WEBP", lossless=True, **options), IMAGE
    yield "animated/apng-3-frames", save(frames[0], "PNG", **options), IMAGE
    yield f"animated/gif-{MANY_FRAMES}-frames", many_frame_gif(), IMAGE
    yield f"animated/webp-{MANY_FRAMES}-frames", many_frame_webp(), IMAGE


def exif_oriented(orientation: int, fmt: str) -> bytes:
    """asymmetric_image() stored rotated/mirrored, with the EXIF tag that undoes it."""
    stored = Image.fromarray(stored_for_orientation(np.asarray(asymmetric_image()), orientation))
    exif = Image.Exif()
    exif[0x0112] = orientation
    options: dict[str, object] = {"exif": exif}
    if fmt == "JPEG":
        options.update(quality=95, subsampling=0)
    if fmt == "WEBP":
        options.update(lossless=True)
    return save(stored, fmt, **options)


EXIF_FORMATS = ("PNG", "JPEG", "WEBP")


def _exif_orientations() -> Iterator[Sample]:
    for fmt in EXIF_FORMATS:
        for orientation in range(1, 9):
            yield (
                f"exif/{fmt.lower()}-orientation-{orientation}",
                exif_oriented(orientation, fmt),
                IMAGE,
            )


def odd_mode_files() -> dict[str, bytes]:
    """Files in the modes users actually upload besides plain RGB."""
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    paletted = Image.new("P", (16, 16), 1)
    paletted.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    paletted.paste(0, (0, 0, 8, 16))  # left half index 0, made transparent below
    la = Image.merge("LA", (Image.new("L", (16, 16), 0), _left_half_alpha()))
    rgba = Image.new("RGBA", (16, 16), (0, 0, 255, 255))
    rgba.putalpha(_left_half_alpha())
    sixteen = Image.fromarray(np.full((16, 16), 32896, dtype=np.uint16)).convert("I;16")
    sixteen.paste(65535, (0, 0, 8, 16))
    one_bit = Image.new("1", (16, 16), 0)
    one_bit.paste(1, (0, 0, 8, 16))
    return {
        "cmyk-jpeg": save(cmyk, "JPEG", quality=95),
        "p-transparency-png": save(paletted, "PNG", transparency=0),
        "p-transparency-gif": save(paletted, "GIF", transparency=0),
        "p-opaque-png": save(paletted, "PNG"),
        "la-png": save(la, "PNG"),
        "rgba-png": save(rgba, "PNG"),
        "rgba-webp": save(rgba, "WEBP", lossless=True),
        "i16-png": save(sixteen, "PNG"),
        "1bit-png": save(one_bit, "PNG"),
        "l-png": save(Image.new("L", (16, 16), 77), "PNG"),
        "l-jpeg": save(Image.new("L", (16, 16), 77), "JPEG"),
        "l-trns-png": save(Image.new("L", (16, 16), 77), "PNG", transparency=77),
        "rgb-trns-png": save(Image.new("RGB", (16, 16), (9, 9, 9)), "PNG", transparency=(9, 9, 9)),
        "progressive-jpeg": save(noise_image(), "JPEG", progressive=True),
        "rgb-png-16bit": _png_rgb16(),
    }


def _left_half_alpha() -> Image.Image:
    alpha = Image.new("L", (16, 16), 255)
    alpha.paste(0, (0, 0, 8, 16))
    return alpha


def _png_rgb16() -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow reads it as 8-bit RGB), all mid orange."""
    row = b"\x00" + struct.pack(">HHH", 65535, 32896, 0) * 16
    ihdr = struct.pack(">IIBBBBB", 16, 16, 16, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(row * 16))
        + png_chunk(b"IEND", b"")
    )


def _odd_modes() -> Iterator[Sample]:
    for name, data in odd_mode_files().items():
        yield f"mode/{name}", data, IMAGE


def _extreme_sizes() -> Iterator[Sample]:
    def black(width: int, height: int, fmt: str) -> bytes:
        return save(Image.new("RGB", (width, height)), fmt)

    yield "size/png-1x1", black(1, 1, "PNG"), ERROR
    yield "size/jpeg-1x1", black(1, 1, "JPEG"), ERROR
    yield "size/gif-1x1", black(1, 1, "GIF"), ERROR
    yield "size/webp-1x1", black(1, 1, "WEBP"), ERROR
    yield "size/png-7x8", black(7, 8, "PNG"), ERROR
    yield "size/png-8x7", black(8, 7, "PNG"), ERROR
    yield "size/png-8x8", black(8, 8, "PNG"), IMAGE
    yield "size/jpeg-8x8", black(8, 8, "JPEG"), IMAGE
    yield "size/png-1x5000", black(1, 5000, "PNG"), ERROR
    yield "size/png-5000x1", black(5000, 1, "PNG"), ERROR
    yield "size/png-8x5000", black(8, 5000, "PNG"), IMAGE
    yield "size/png-5000x8", black(5000, 8, "PNG"), IMAGE
    yield "size/png-4096x4097-header", png_header_only(4096, 4097), ERROR
