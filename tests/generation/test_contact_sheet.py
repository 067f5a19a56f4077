"""The contact sheet: cells land in their grid boxes, headers are drawn, sizes add up."""

from __future__ import annotations

from PIL import Image, ImageChops

from generation.images.contact_sheet import (
    HEADER_BACKGROUND,
    MAX_CELL_SIDE,
    encode_sheet,
    layout_sheet,
    render_sheet,
)


def _cell(colour) -> Image.Image:
    return Image.new("RGB", (64, 48), colour)


def _dark_pixels(image: Image.Image) -> int:
    return sum(image.convert("L").histogram()[:128])


def test_the_sheet_is_the_grid_of_cells_plus_its_header_bands():
    rows, columns = ("red", "blue", "a much longer gold label"), ("seed 1", "seed 2")
    cells = [[_cell((40 * r, 30 * c, 90)) for c in range(2)] for r in range(3)]
    sheet = render_sheet(cells, rows, columns, (64, 48))
    layout = layout_sheet(rows, columns, (64, 48))
    assert layout.row_header_width > 0 and layout.column_header_height > 0
    assert sheet.size == (layout.row_header_width + 2 * 64, layout.column_header_height + 3 * 48)
    for r in range(3):
        for c in range(2):
            placed = sheet.crop(layout.cell_box(r, c))
            assert ImageChops.difference(placed, cells[r][c]).getbbox() is None, (r, c)


def test_every_row_and_column_header_has_its_label_drawn():
    rows, columns = ("red", "blue"), ("seed 1", "seed 2", "seed 3")
    blank = [[_cell((0, 0, 0))] * 3] * 2
    sheet = render_sheet(blank, rows, columns, (64, 48))
    layout = layout_sheet(rows, columns, (64, 48))
    for c in range(3):
        left, _, right, _ = layout.cell_box(0, c)
        band = sheet.crop((left, 0, right, layout.column_header_height))
        assert _dark_pixels(band) > 10, f"column {c} has no label"
    for r in range(2):
        _, top, _, bottom = layout.cell_box(r, 0)
        band = sheet.crop((0, top, layout.row_header_width, bottom))
        assert _dark_pixels(band) > 10, f"row {r} has no label"
    assert sheet.getpixel((1, 1)) == HEADER_BACKGROUND


def test_missing_cells_are_grey_tiles_and_large_cells_are_shown_smaller():
    sheet = render_sheet([[None, "failed"]], ("x",), ("a", "b"), (1024, 1024))
    layout = layout_sheet(("x",), ("a", "b"), (1024, 1024))
    assert layout.cell_width == MAX_CELL_SIDE
    assert sheet.size == layout.size
    data, extension = encode_sheet(sheet, 10 << 20)
    assert extension == "png" and data.startswith(b"\x89PNG")
    data, extension = encode_sheet(Image.effect_noise((600, 600), 90).convert("RGB"), 200_000)
    assert extension == "jpg" and len(data) <= 200_000
