"""Encoding: PNG parameters round-trip, animations and images fit their byte budget, grids."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageSequence

from generation.errors import InvalidImage, InvalidInput
from generation.images.encode import (
    encode_animation,
    encode_image_within,
    encode_png,
    format_parameters,
    make_grid,
    read_png_parameters,
)
from tests.generation import hostile_corpus as hc

HOSTILE_PROMPT = (
    "@everyone <@&1234> 猫 🐈\u200d⬛ مرحبا e\u0301 \u200b, "
    '"quoted", back\\slash\nsecond line --steps 999'
)
PARAMETERS = {
    "prompt": HOSTILE_PROMPT,
    "negative_prompt": "blurry, lowres",
    "steps": 4,
    "seed": 123,
    "width": 512,
    "height": 512,
    "model": "sd15",
    "guidance_scale": 1.5,
    "strength": None,
    "style": "ink",
    "loras": ["a", "b"],
}
FPS = 10


def _png_text_chunks(data: bytes) -> dict[str, bytes]:
    """Chunk type by text key, read straight from the file (not through Pillow)."""
    chunks: dict[str, bytes] = {}
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        payload = data[position + 8 : position + 8 + length]
        if kind in (b"tEXt", b"iTXt"):
            chunks[payload.split(b"\x00", 1)[0].decode("latin-1")] = kind
        position += 12 + length
    return chunks


def _noise_frames(count: int = 24, size: int = 256, seed: int = 1) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(count)
    ]


@pytest.fixture(scope="module")
def noise_frames() -> list[Image.Image]:
    return _noise_frames()


def _frames_and_total_duration(data: bytes) -> tuple[int, int, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as animation:
        durations = []
        for frame in ImageSequence.Iterator(animation):
            frame.load()  # WebP reports a frame's duration only once it is decoded
            durations.append(frame.info.get("duration", 0))
        return len(durations), sum(durations), animation.size


# ----- PNG parameters --------------------------------------------------------------------------


def test_png_parameters_round_trip_exactly() -> None:
    data = encode_png(hc.noise_image(), PARAMETERS)
    assert read_png_parameters(data) == PARAMETERS
    decoded = Image.open(io.BytesIO(data))
    assert np.array_equal(np.asarray(decoded.convert("RGB")), np.asarray(hc.noise_image()))


def test_png_human_line_is_automatic1111_style() -> None:
    data = encode_png(hc.noise_image(), PARAMETERS)
    text = Image.open(io.BytesIO(data)).info["parameters"]
    lines = text.split("\n")
    assert "\n".join(lines[:2]) == HOSTILE_PROMPT
    assert lines[2] == "Negative prompt: blurry, lowres"
    assert lines[3].startswith("Steps: 4, Seed: 123, Size: 512x512, Model: sd15, CFG scale: 1.5")
    assert 'Loras: ["a", "b"]' in lines[3] and "Style: ink" in lines[3]
    assert "Denoising strength" not in lines[3]  # None values are left out


def test_unicode_goes_into_itxt_and_latin1_into_text() -> None:
    unicode_chunks = _png_text_chunks(encode_png(hc.noise_image(), PARAMETERS))
    assert unicode_chunks == {"parameters": b"iTXt", "lcm-bot": b"tEXt"}
    plain = {"prompt": "café, a cat", "steps": 4}
    assert _png_text_chunks(encode_png(hc.noise_image(), plain)) == {
        "parameters": b"tEXt",
        "lcm-bot": b"tEXt",
    }
    assert read_png_parameters(encode_png(hc.noise_image(), plain)) == plain


def test_lone_surrogates_do_not_break_encoding() -> None:
    parameters = {"prompt": "broken \ud800 text", "seed": 1}
    data = encode_png(hc.noise_image(), parameters)
    assert read_png_parameters(data) == parameters


def test_values_with_separators_are_quoted() -> None:
    line = format_parameters({"prompt": "p", "sampler": "LCM, fast", "note": 'a: "b"'})
    assert line == 'p\nSampler: "LCM, fast", Note: "a: \\"b\\""'


def test_reading_parameters_from_other_files() -> None:
    assert read_png_parameters(hc.base_file("png")) == {}
    with pytest.raises(InvalidImage, match="not a PNG"):
        read_png_parameters(hc.base_file("jpeg"))
    with pytest.raises(InvalidImage, match="damaged"):
        read_png_parameters(hc.PNG_SIGNATURE + b"\x00\x00")
    broken = encode_png(hc.noise_image(), {"seed": 1}).replace(b'{"seed": 1}', b'{"seed": 1]')
    with pytest.raises(InvalidImage, match="parameters are damaged"):
        read_png_parameters(_fix_crcs(broken))
    assert read_png_parameters(hc.png_header_only(5000, 5000)) == {}  # pixels are never read
    with pytest.raises(InvalidImage, match="far larger"):
        read_png_parameters(hc.png_header_only(60000, 60000))


def _fix_crcs(data: bytes) -> bytes:
    """Recompute every chunk CRC so that only the JSON content is wrong."""
    out = bytearray(data[:8])
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        body = data[position + 4 : position + 8 + length]
        out += data[position : position + 4] + body + struct.pack(">I", zlib.crc32(body))
        position += 12 + length
    return bytes(out)


# ----- animations ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_animation_loops_and_keeps_every_frame_when_it_fits(fmt: str) -> None:
    frames = _noise_frames(count=6, size=64)
    data = encode_animation(frames, fps=FPS, max_bytes=10_000_000, fmt=fmt)
    count, total, size = _frames_and_total_duration(data)
    assert (count, total, size) == (6, 600, (64, 64))
    with Image.open(io.BytesIO(data)) as animation:
        assert animation.format == fmt.upper() and animation.info["loop"] == 0


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_tight_budget_is_met_with_a_real_animation(fmt: str, noise_frames) -> None:
    budget = 400_000
    data = encode_animation(noise_frames, fps=FPS, max_bytes=budget, fmt=fmt)
    count, total, size = _frames_and_total_duration(data)
    assert len(data) <= budget
    assert 2 <= count < 24  # every other frame dropped ...
    assert total == 2400  # ... but the clip still lasts 24 frames at 10 fps
    assert size[0] < 256 and size == (size[0], size[0])  # and scaled, keeping the aspect
    if fmt == "gif":  # after the colour steps: colours stay at 32 while frames and size shrink
        colours = Image.open(io.BytesIO(data)).convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is not None and len(colours) <= 32


def test_gif_reduces_colours_before_dropping_frames(noise_frames) -> None:
    # 256 colours: ~1.7 MB; 64 colours: ~1.25 MB; 32 colours: ~1.07 MB (seeded noise).
    data = encode_animation(noise_frames, fps=FPS, max_bytes=1_350_000, fmt="gif")
    count, _, size = _frames_and_total_duration(data)
    assert len(data) <= 1_350_000
    assert (count, size) == (24, (256, 256))
    first = Image.open(io.BytesIO(data)).convert("RGB")
    colours = first.getcolors(maxcolors=1 << 16)
    assert colours is not None and 32 < len(colours) <= 64


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_impossible_budget_says_how_small_it_got(fmt: str, noise_frames) -> None:
    with pytest.raises(InvalidInput) as caught:
        encode_animation(noise_frames, fps=FPS, max_bytes=10_000, fmt=fmt)
    assert caught.value.parameter == "max_bytes"
    message = str(caught.value)
    assert "does not fit in 10000 bytes" in message and "smallest reached was" in message
    assert "81×81, 12 frames" in message


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"fmt": "mp4"}, "format"),
        ({"fps": 0}, "fps"),
        ({"fps": 2.5}, "fps"),
        ({"max_bytes": 0}, "max_bytes"),
    ],
)
def test_animation_arguments_are_checked(arguments: dict, parameter: str) -> None:
    options = {"fps": FPS, "max_bytes": 1_000_000, "fmt": "gif", **arguments}
    with pytest.raises(InvalidInput) as caught:
        encode_animation(_noise_frames(count=2, size=16), **options)
    assert caught.value.parameter == parameter


def test_animation_frames_must_exist_and_match() -> None:
    with pytest.raises(InvalidInput, match="no frames"):
        encode_animation([], fps=FPS, max_bytes=1_000)
    mixed = [Image.new("RGB", (16, 16)), Image.new("RGB", (16, 8))]
    with pytest.raises(InvalidInput, match="differ in size"):
        encode_animation(mixed, fps=FPS, max_bytes=1_000_000)


# ----- single images within a budget -----------------------------------------------------------


def test_image_within_budget_prefers_png_with_parameters() -> None:
    image = _noise_frames(count=1, size=256)[0]
    data, extension = encode_image_within(image, PARAMETERS, max_bytes=10_000_000)
    assert extension == "png" and read_png_parameters(data) == PARAMETERS


@pytest.mark.parametrize(("budget", "full_size"), [(120_000, True), (6_000, False)])
def test_image_falls_back_to_webp_then_smaller_webp(budget: int, full_size: bool) -> None:
    image = _noise_frames(count=1, size=256)[0]
    png, _ = encode_image_within(image, PARAMETERS, max_bytes=10_000_000)
    assert len(png) > budget
    data, extension = encode_image_within(image, PARAMETERS, max_bytes=budget)
    decoded = Image.open(io.BytesIO(data))
    assert extension == "webp" and decoded.format == "WEBP" and len(data) <= budget
    assert (decoded.size == (256, 256)) is full_size


def test_image_impossible_budget_raises() -> None:
    image = _noise_frames(count=1, size=256)[0]
    with pytest.raises(InvalidInput) as caught:
        encode_image_within(image, PARAMETERS, max_bytes=100)
    assert caught.value.parameter == "max_bytes" and "smallest reached was" in str(caught.value)


# ----- grids -----------------------------------------------------------------------------------

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]


def test_grid_is_near_square_row_by_row() -> None:
    grid = make_grid([Image.new("RGB", (32, 24), colour) for colour in COLOURS])
    assert grid.size == (96, 48)
    for index, colour in enumerate(COLOURS):
        row, column = divmod(index, 3)
        assert grid.getpixel((column * 32 + 16, row * 24 + 12)) == colour
    assert grid.getpixel((2 * 32 + 16, 24 + 12)) == (0, 0, 0)  # the empty sixth cell


def test_grid_columns_and_mixed_sizes() -> None:
    images = [Image.new("RGB", (32, 24), colour) for colour in COLOURS]
    assert make_grid(images, columns=5).size == (160, 24)
    assert make_grid(images, columns=50).size == (160, 24)
    mixed = make_grid([Image.new("RGB", (32, 32), COLOURS[0]), Image.new("L", (16, 16), 255)], 2)
    assert mixed.size == (64, 32)
    assert mixed.getpixel((48, 16)) == (255, 255, 255) and mixed.getpixel((33, 1)) == (0, 0, 0)


def test_grid_refuses_nothing_and_bad_columns() -> None:
    with pytest.raises(InvalidInput):
        make_grid([])
    with pytest.raises(InvalidInput):
        make_grid([Image.new("RGB", (8, 8))], columns=0)
