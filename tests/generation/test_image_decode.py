"""Decoding hostile uploads: every file is a correct RGB image or a clear InvalidImage, fast."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import tracemalloc
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageSequence

from generation.errors import InvalidImage
from generation.images.image_decode import (
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    alpha_mask,
    decode_image,
    decode_mask,
    sniff_format,
)
from tests.generation import hostile_corpus as hc

CORPUS = hc.corpus()
BOMBS = hc.bombs()
REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_SECONDS_PER_FILE = 2.0
MAX_BOMB_SECONDS = 0.5
MAX_BOMB_MEMORY = 50 * 1024 * 1024


def _outcome(decode, data: bytes) -> tuple[str, object]:
    """("image", result) or ("error", InvalidImage); any other exception fails the test."""
    try:
        return "image", decode(data)
    except InvalidImage as exc:
        assert exc.problem.strip() and str(exc).strip(), "an InvalidImage needs a message"
        return "error", exc


def _seconds(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def _assert_valid_rgb(image: Image.Image) -> None:
    assert image.mode == "RGB"
    pixels = np.asarray(image)
    assert pixels.shape == (image.height, image.width, 3)
    assert min(image.size) >= 8


# ----- the corpus ------------------------------------------------------------------------------


def test_corpus_has_at_least_200_files_of_every_kind() -> None:
    kinds = Counter(name.split("/")[0] for name, _, _ in CORPUS)
    assert len(CORPUS) >= 200
    assert kinds["truncated"] >= 100
    assert kinds["flipped"] >= 60
    assert kinds["bomb"] >= 10
    assert kinds["exif"] == 24
    for kind in ("base", "wrong", "mislabeled", "animated", "mode", "size"):
        assert kinds[kind] >= 4, kind


@pytest.mark.parametrize(
    ("name", "data", "expectation"), CORPUS, ids=[name for name, _, _ in CORPUS]
)
def test_hostile_file_decodes_or_is_refused_clearly(
    name: str, data: bytes, expectation: str
) -> None:
    outcomes = {}
    for decode in (decode_image, decode_mask, alpha_mask):
        started = time.perf_counter()
        outcomes[decode.__name__] = _outcome(decode, data)
        assert time.perf_counter() - started < MAX_SECONDS_PER_FILE, decode.__name__
    kind, result = outcomes["decode_image"]
    if expectation != hc.EITHER:
        assert kind == expectation, f"{name}: {result}"
    # The three entry points run the same checks, so they agree on every file.
    assert {outcome[0] for outcome in outcomes.values()} == {kind}
    if kind == "image":
        _assert_valid_rgb(result)
        mask = outcomes["decode_mask"][1]
        assert mask.mode == "L" and mask.size == result.size
        transparent = outcomes["alpha_mask"][1]
        assert transparent is None or (transparent.mode, transparent.size) == ("L", result.size)


def test_whole_corpus_figures() -> None:
    """The RELIABILITY.md figure: 0 crashes, 0 hangs over 2 s, every expectation met."""
    slowest = 0.0
    tally: Counter[str] = Counter()
    for _name, data, expectation in CORPUS:
        started = time.perf_counter()
        kind, _ = _outcome(decode_image, data)
        slowest = max(slowest, time.perf_counter() - started)
        tally[kind] += 1
        assert expectation in (kind, hc.EITHER)
    assert slowest < MAX_SECONDS_PER_FILE
    assert tally["image"] >= 50 and tally["error"] >= 150


# ----- bombs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "_"), BOMBS, ids=[name for name, _, _ in BOMBS])
def test_bomb_is_refused_fast_and_small(name: str, data: bytes, _: str) -> None:
    assert len(data) < 200_000, "a bomb is a small file"
    tracemalloc.start()
    try:
        started = time.perf_counter()
        with pytest.raises(InvalidImage) as caught:
            decode_image(data)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < MAX_BOMB_SECONDS
    assert peak < MAX_BOMB_MEMORY
    assert caught.value.parameter == "image" and caught.value.allowed


def test_bombs_grow_resident_memory_by_less_than_50_mb(tmp_path: Path) -> None:
    """tracemalloc misses C allocations (Pillow, libwebp), so also measure the process RSS."""
    for index, (_, data, _) in enumerate(BOMBS):
        (tmp_path / f"{index}.bin").write_bytes(data)
    script = """
import json, resource, sys
from pathlib import Path
from generation.errors import InvalidImage
from generation.images.image_decode import decode_image
files = [p.read_bytes() for p in sorted(Path(sys.argv[1]).glob("*.bin"))]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
refused = 0
for data in files:
    try:
        decode_image(data)
    except InvalidImage:
        refused += 1
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_kib": after - before, "refused": refused, "files": len(files)}))
"""
    completed = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["files"] == len(BOMBS) and report["refused"] == len(BOMBS)
    assert report["growth_kib"] * 1024 < MAX_BOMB_MEMORY


def test_pixel_cap_is_checked_from_the_header_at_the_exact_boundary() -> None:
    exactly = hc.save(Image.new("RGB", (100, 100)), "PNG")
    one_over = hc.save(Image.new("RGB", (101, 100)), "PNG")
    assert decode_image(exactly, max_pixels=10_000).size == (100, 100)
    with pytest.raises(InvalidImage, match=r"101×100 is 10,100 pixels.*at most 10,000 pixels"):
        decode_image(one_over, max_pixels=10_000)
    assert MAX_PIXELS == 16_777_216 and MAX_UPLOAD_BYTES == 25 * 1024 * 1024


def test_upload_over_the_byte_limit_is_refused_before_decoding() -> None:
    data = hc.base_file("png")
    with pytest.raises(InvalidImage, match="MiB") as caught:
        decode_image(data, max_bytes=len(data) - 1, parameter="init_image")
    assert caught.value.parameter == "init_image"
    assert decode_image(data, max_bytes=len(data)).size == (64, 48)


def test_global_pillow_state_is_left_alone() -> None:
    filters_before = list(warnings.filters)
    for _, data, _ in BOMBS[:3]:
        with pytest.raises(InvalidImage):
            decode_image(data)
    decode_image(hc.base_file("jpeg"))
    assert warnings.filters == filters_before
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    assert Image.MAX_IMAGE_PIXELS == 1024 * 1024 * 1024 // 4 // 3


def test_refuses_to_run_if_truncated_loading_was_switched_on(monkeypatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        decode_image(hc.base_file("png"))


# ----- formats ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "named"),
    [
        ("wrong/tiff", "TIFF"),
        ("wrong/psd", "PSD"),
        ("wrong/fits", "FITS"),
        ("wrong/ico", "ICO"),
        ("wrong/bmp", "BMP"),
        ("wrong/pdf", "PDF"),
    ],
)
def test_refused_formats_are_named_with_the_allowed_list(sample: str, named: str) -> None:
    data = dict((name, data) for name, data, _ in CORPUS)[sample]
    with pytest.raises(InvalidImage) as caught:
        decode_image(data, parameter="init_image")
    message = str(caught.value)
    assert message.startswith("init_image: ") and named in message
    assert "PNG, JPEG, WebP or GIF" in message


def test_format_is_decided_by_content() -> None:
    assert sniff_format(hc.base_file("png")) == "PNG"
    assert sniff_format(hc.base_file("jpeg")) == "JPEG"
    assert sniff_format(hc.base_file("webp-lossy")) == "WEBP"
    assert sniff_format(hc.base_file("gif")) == "GIF"
    assert sniff_format(hc.save(Image.new("RGB", (8, 8)), "TIFF")) is None


def test_decoded_pixels_match_the_source() -> None:
    original = np.asarray(hc.noise_image())
    for key in ("png", "webp-lossless"):
        assert np.array_equal(np.asarray(decode_image(hc.base_file(key))), original)
    # Lossy formats: exactly what Pillow's plain decoder gives, so nothing is lost on the way.
    for key in ("jpeg", "webp-lossy", "gif"):
        data = hc.base_file(key)
        plain = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        assert np.array_equal(np.asarray(decode_image(data)), plain)


def test_truncated_files_are_never_loaded() -> None:
    for key in hc.BASE_FORMATS:
        data = hc.base_file(key)
        for fraction in (0.5, 0.8, 0.95):
            with pytest.raises(InvalidImage, match="damaged or truncated"):
                decode_image(data[: int(len(data) * fraction)])


# ----- animation -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animated_upload_gives_its_first_frame(fmt: str) -> None:
    frames = hc.three_frames()
    options = {"save_all": True, "append_images": frames[1:], "duration": 100, "loop": 0}
    data = hc.save(frames[0], fmt, **options)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    decoded = decode_image(data)
    # Pillow's animated WebP writer may shift a channel by one even when lossless.
    actual = decoded.getpixel((8, 8))
    assert max(abs(a - e) for a, e in zip(actual, hc.FIRST_FRAME_COLOUR, strict=True)) <= 2


@pytest.mark.parametrize("build", [hc.many_frame_gif, hc.many_frame_webp], ids=["gif", "webp"])
def test_ten_thousand_frames_cost_one_frame(build) -> None:
    data = build()
    decoded = decode_image(data)  # the first call also pays for plugin set-up; time later ones
    one_frame = min(_seconds(decode_image, data) for _ in range(3))
    started = time.perf_counter()
    frame_count = 0
    with Image.open(io.BytesIO(data)) as animation:
        for frame in ImageSequence.Iterator(animation):
            frame.load()
            frame_count += 1
    every_frame = time.perf_counter() - started
    assert frame_count == hc.MANY_FRAMES
    assert one_frame < 0.5
    assert one_frame < every_frame / 20, (one_frame, every_frame)
    if build is hc.many_frame_gif:
        assert decoded.getpixel((0, 0)) == (255, 255, 255)
        assert decoded.getpixel((7, 0)) == (0, 0, 0)
    else:
        assert decoded.getpixel((4, 4)) == (255, 0, 0)


# ----- orientation -----------------------------------------------------------------------------


def test_orientation_helper_follows_the_exif_definitions() -> None:
    display = np.asarray(hc.asymmetric_image())
    # 6: "the 0th row is the visual right-hand side, the 0th column is the visual top".
    stored = hc.stored_for_orientation(display, 6)
    assert np.array_equal(stored[0, :], display[:, -1])
    # 8: "the 0th row is the visual left-hand side, the 0th column is the visual bottom".
    stored = hc.stored_for_orientation(display, 8)
    assert np.array_equal(stored[0, :], display[::-1, 0])
    # 3: upside down.
    assert np.array_equal(hc.stored_for_orientation(display, 3)[0, 0], display[-1, -1])


@pytest.mark.parametrize("fmt", hc.EXIF_FORMATS)
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(fmt: str, orientation: int) -> None:
    original = np.asarray(hc.asymmetric_image(), dtype=np.int16)
    decoded = np.asarray(decode_image(hc.exif_oriented(orientation, fmt)), dtype=np.int16)
    assert decoded.shape == original.shape
    if fmt == "JPEG":
        assert np.abs(decoded - original).mean() < 6
    else:
        assert np.array_equal(decoded, original)
    if orientation != 1:
        # The stored pixels really are different, so the check above can fail.
        stored = hc.stored_for_orientation(original, orientation)
        assert stored.shape != original.shape or not np.array_equal(stored, original)


# ----- modes -----------------------------------------------------------------------------------

MODES = hc.odd_mode_files()
RED, BLUE, WHITE, BLACK = (255, 0, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


@pytest.mark.parametrize(
    ("sample", "left", "right"),
    [
        ("cmyk-jpeg", RED, RED),
        ("p-transparency-png", WHITE, RED),
        ("p-transparency-gif", WHITE, RED),
        ("p-opaque-png", BLACK, RED),
        ("la-png", WHITE, BLACK),
        ("rgba-png", WHITE, BLUE),
        ("rgba-webp", WHITE, BLUE),
        ("i16-png", WHITE, (128, 128, 128)),
        ("1bit-png", WHITE, BLACK),
        ("l-png", (77, 77, 77), (77, 77, 77)),
        ("rgb-trns-png", WHITE, WHITE),
        ("l-trns-png", WHITE, WHITE),
        ("rgb-png-16bit", (255, 128, 0), (255, 128, 0)),
    ],
)
def test_odd_modes_become_rgb_with_alpha_on_white(sample: str, left, right) -> None:
    decoded = decode_image(MODES[sample])
    _assert_valid_rgb(decoded)
    for position, expected in (((2, 8), left), ((13, 8), right)):
        actual = decoded.getpixel(position)
        assert max(abs(a - e) for a, e in zip(actual, expected, strict=True)) <= 6, (
            sample,
            position,
            actual,
        )


@pytest.mark.parametrize(
    ("sample", "left", "right"),
    [
        ("i16-png", 255, 128),
        ("1bit-png", 255, 0),
        ("rgba-png", 255, 29),  # transparent -> flattened white; opaque blue -> its luminance
        ("la-png", 255, 0),
        ("p-transparency-png", 255, 76),
    ],
)
def test_masks_decode_to_luminance_of_the_flattened_image(sample: str, left, right) -> None:
    mask = decode_mask(MODES[sample])
    assert mask.mode == "L"
    assert abs(mask.getpixel((2, 8)) - left) <= 1
    assert abs(mask.getpixel((13, 8)) - right) <= 1


@pytest.mark.parametrize(
    ("sample", "expected_left"),
    [
        ("p-transparency-png", 255),
        ("p-transparency-gif", 255),
        ("la-png", 255),
        ("rgba-png", 255),
        ("rgba-webp", 255),
    ],
)
def test_alpha_mask_is_white_where_transparent(sample: str, expected_left: int) -> None:
    mask = alpha_mask(MODES[sample])
    assert mask is not None and mask.mode == "L" and mask.size == (16, 16)
    pixels = np.asarray(mask)
    assert (pixels[:, :8] == expected_left).all() and (pixels[:, 8:] == 0).all()


@pytest.mark.parametrize("sample", ["p-opaque-png", "1bit-png", "l-png", "cmyk-jpeg", "i16-png"])
def test_alpha_mask_is_none_without_transparency(sample: str) -> None:
    assert alpha_mask(MODES[sample]) is None


def test_alpha_mask_threshold_is_128() -> None:
    rgba = Image.new("RGBA", (16, 16), (10, 20, 30, 255))
    rgba.putpixel((0, 0), (10, 20, 30, 127))
    rgba.putpixel((1, 0), (10, 20, 30, 128))
    mask = alpha_mask(hc.save(rgba, "PNG"))
    assert mask is not None
    assert (mask.getpixel((0, 0)), mask.getpixel((1, 0)), mask.getpixel((5, 5))) == (255, 0, 0)
    opaque_alpha = Image.new("RGBA", (16, 16), (10, 20, 30, 200))
    assert alpha_mask(hc.save(opaque_alpha, "PNG")) is None
