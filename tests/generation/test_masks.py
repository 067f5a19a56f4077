"""Masks: binarised, resized to the init and lined up with it pixel for pixel, or refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from generation.errors import InvalidImage
from generation.images.image_decode import alpha_mask, decode_image, decode_mask
from generation.images.masks import prepare_mask
from tests.generation import hostile_corpus as hc

INIT_SIZE = (64, 48)
# A rectangle on the 128×96 mask grid and where it must land on the 64×48 init grid.
MASK_BOX = (32, 16, 96, 64)  # left, top, right, bottom (exclusive)
INIT_BOX = (16, 8, 48, 32)


def _expected(box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    left, top, right, bottom = box
    expected = np.zeros((size[1], size[0]), dtype=np.uint8)
    expected[top:bottom, left:right] = 255
    return expected


def _one_bit_mask() -> bytes:
    mask = Image.new("1", (128, 96), 0)
    mask.paste(1, MASK_BOX)
    return hc.save(mask, "PNG")


def _rgba_mask() -> bytes:
    """Opaque black with an opaque white rectangle; the alpha carries no information."""
    mask = Image.new("RGBA", (128, 96), (0, 0, 0, 255))
    mask.paste((255, 255, 255, 255), MASK_BOX)
    return hc.save(mask, "PNG")


def _init() -> Image.Image:
    return decode_image(hc.save(hc.noise_image(*INIT_SIZE), "PNG"))


@pytest.mark.parametrize("build", [_one_bit_mask, _rgba_mask], ids=["1-bit", "rgba"])
def test_mask_lines_up_with_the_init_pixel_for_pixel(build) -> None:
    init = _init()
    prepared = prepare_mask(decode_mask(build()), init.size)
    assert prepared.mode == "L" and prepared.size == init.size
    assert np.array_equal(np.asarray(prepared), _expected(INIT_BOX, INIT_SIZE))


def test_same_size_mask_is_kept_exactly() -> None:
    mask = Image.new("L", INIT_SIZE, 0)
    mask.paste(200, INIT_BOX)
    prepared = prepare_mask(mask, INIT_SIZE)
    assert np.array_equal(np.asarray(prepared), _expected(INIT_BOX, INIT_SIZE))


def test_mask_is_binarised_at_128() -> None:
    gradient = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (8, 1)), "L")
    prepared = np.asarray(prepare_mask(gradient, (256, 8)))
    assert set(np.unique(prepared)) == {0, 255}
    assert (prepared[:, :128] == 0).all() and (prepared[:, 128:] == 255).all()


def test_sixteen_bit_mask_is_scaled_not_clipped() -> None:
    values = np.zeros((16, 16), dtype=np.uint16)
    values[:, :8] = 65535
    values[:, 8:] = 20000  # ~78 in 8 bits: keep, although Pillow's clipping would make it 255
    mask = decode_mask(hc.save(Image.fromarray(values), "PNG"))
    prepared = np.asarray(prepare_mask(mask, (16, 16)))
    assert (prepared[:, :8] == 255).all() and (prepared[:, 8:] == 0).all()


def test_exif_rotated_mask_lines_up_with_exif_rotated_init() -> None:
    """A phone photo and a mask painted on it both carry orientation 6; both are turned."""
    display_mask = np.zeros((48, 64), dtype=np.uint8)
    display_mask[8:32, 16:48] = 255
    display_init = np.asarray(hc.noise_image(*INIT_SIZE))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored_mask = Image.fromarray(hc.stored_for_orientation(display_mask, 6), "L")
    stored_init = Image.fromarray(hc.stored_for_orientation(display_init, 6), "RGB")
    init = decode_image(hc.save(stored_init, "PNG", exif=exif))
    mask = prepare_mask(decode_mask(hc.save(stored_mask, "PNG", exif=exif)), init.size)
    assert np.array_equal(np.asarray(init), display_init)
    assert np.array_equal(np.asarray(mask), display_mask)


def test_aspect_mismatch_is_refused_naming_both_sizes() -> None:
    with pytest.raises(InvalidImage) as caught:
        prepare_mask(Image.new("L", (100, 100), 255), INIT_SIZE, parameter="mask_image")
    message = str(caught.value)
    assert caught.value.parameter == "mask_image"
    assert "100×100" in message and "64×48" in message and "aspect" in message


def test_aspect_within_one_percent_is_accepted() -> None:
    assert prepare_mask(Image.new("L", (101, 100), 255), (100, 100)).size == (100, 100)
    with pytest.raises(InvalidImage):
        prepare_mask(Image.new("L", (102, 100), 255), (100, 100))


def test_all_black_mask_is_refused() -> None:
    with pytest.raises(InvalidImage, match="nothing to repaint"):
        prepare_mask(Image.new("L", INIT_SIZE, 127), INIT_SIZE)


def test_white_area_lost_in_scaling_is_refused() -> None:
    mask = Image.new("L", (640, 480), 0)
    mask.putpixel((0, 0), 255)
    with pytest.raises(InvalidImage, match="too small to survive"):
        prepare_mask(mask, INIT_SIZE)


def test_transparent_area_of_an_upload_becomes_the_mask() -> None:
    """/inpaint with one PNG: its transparent region is what gets repainted."""
    upload = hc.noise_image(*INIT_SIZE).convert("RGBA")
    alpha = Image.new("L", INIT_SIZE, 255)
    alpha.paste(0, INIT_BOX)
    upload.putalpha(alpha)
    data = hc.save(upload, "PNG")
    mask = alpha_mask(data)
    assert mask is not None
    prepared = prepare_mask(mask, decode_image(data).size)
    assert np.array_equal(np.asarray(prepared), _expected(INIT_BOX, INIT_SIZE))


def test_opaque_upload_has_no_alpha_mask() -> None:
    assert alpha_mask(hc.base_file("png")) is None
    assert alpha_mask(hc.base_file("jpeg")) is None
