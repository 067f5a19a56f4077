"""A labelled contact sheet: a grid of images with row and column headers drawn on it (pure PIL)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

FONT_SIZE = 12
PAD = 4
HEADER_HEIGHT = FONT_SIZE + 2 * PAD + 4  # one line of text in the column header band
MAX_ROW_HEADER = 200  # longer row labels are cut with an ellipsis
# Cells are shown at most this wide on the sheet, so 25 large cells stay within an upload limit;
# each cell opens at full size on its own.
MAX_CELL_SIDE = 384
BACKGROUND = (24, 24, 28)
HEADER_BACKGROUND = (236, 236, 240)
TEXT = (20, 20, 24)
PENDING = (70, 70, 78)
PENDING_TEXT = (200, 200, 210)


@dataclass(frozen=True)
class SheetLayout:
    """Where everything goes: the header bands, then a rows × columns grid of equal cells."""

    rows: int
    columns: int
    cell_width: int
    cell_height: int
    row_header_width: int
    column_header_height: int

    @property
    def size(self) -> tuple[int, int]:
        return (
            self.row_header_width + self.columns * self.cell_width,
            self.column_header_height + self.rows * self.cell_height,
        )

    def cell_box(self, row: int, column: int) -> tuple[int, int, int, int]:
        left = self.row_header_width + column * self.cell_width
        top = self.column_header_height + row * self.cell_height
        return left, top, left + self.cell_width, top + self.cell_height


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=FONT_SIZE)


def _text_width(font, text: str) -> int:
    left, _, right, _ = font.getbbox(text)
    return int(right - left)


def fit_text(font, text: str, width: int) -> str:
    """``text``, cut with an ellipsis so it fits ``width`` pixels (possibly just "…")."""
    if _text_width(font, text) <= width:
        return text
    while text and _text_width(font, text + "…") > width:
        text = text[:-1]
    return text + "…"


def layout_sheet(
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    cell_size: tuple[int, int],
) -> SheetLayout:
    """The sheet's geometry for these labels and cells of ``cell_size`` (scaled down if large)."""
    if not row_labels or not column_labels:
        raise ValueError("a sheet needs at least one row and one column")
    width, height = cell_size
    scale = min(1.0, MAX_CELL_SIDE / max(width, height))
    cell_width, cell_height = max(1, round(width * scale)), max(1, round(height * scale))
    font = _font()
    widest = max(_text_width(font, label) for label in row_labels)
    row_header = min(MAX_ROW_HEADER, widest + 2 * PAD)
    return SheetLayout(
        rows=len(row_labels),
        columns=len(column_labels),
        cell_width=cell_width,
        cell_height=cell_height,
        row_header_width=max(row_header, 2 * PAD + 8),
        column_header_height=HEADER_HEIGHT,
    )


def render_sheet(
    cells: Sequence[Sequence[Image.Image | str | None]],
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    cell_size: tuple[int, int],
) -> Image.Image:
    """Draw the grid: ``cells[row][column]`` is an image, a short note, or None (still to come).

    Every image is resized to the layout's cell size, so cells of one sheet line up.
    """
    layout = layout_sheet(row_labels, column_labels, cell_size)
    if len(cells) != layout.rows or any(len(row) != layout.columns for row in cells):
        raise ValueError(f"cells must be {layout.rows} rows of {layout.columns}")
    sheet = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = _font()
    width, _ = layout.size
    draw.rectangle((0, 0, width - 1, layout.column_header_height - 1), fill=HEADER_BACKGROUND)
    draw.rectangle((0, 0, layout.row_header_width - 1, layout.size[1] - 1), fill=HEADER_BACKGROUND)
    for column, label in enumerate(column_labels):
        left, _, right, _ = layout.cell_box(0, column)
        text = fit_text(font, label, right - left - 2 * PAD)
        draw.text((left + PAD, PAD), text, fill=TEXT, font=font)
    for row, label in enumerate(row_labels):
        _, top, _, bottom = layout.cell_box(row, 0)
        text = fit_text(font, label, layout.row_header_width - 2 * PAD)
        middle = (top + bottom) // 2
        draw.text((PAD, middle - FONT_SIZE // 2), text, fill=TEXT, font=font)
    for row, line in enumerate(cells):
        for column, cell in enumerate(line):
            box = layout.cell_box(row, column)
            if isinstance(cell, Image.Image):
                size = (layout.cell_width, layout.cell_height)
                picture = cell.convert("RGB")
                if picture.size != size:
                    picture = picture.resize(size, Image.Resampling.LANCZOS)
                sheet.paste(picture, box[:2])
                continue
            # Not there (yet): a grey tile, with its note when it has one.
            draw.rectangle((box[0] + 1, box[1] + 1, box[2] - 2, box[3] - 2), fill=PENDING)
            note = fit_text(font, cell or "…", layout.cell_width - 2 * PAD)
            draw.text((box[0] + PAD, box[1] + PAD), note, fill=PENDING_TEXT, font=font)
    return sheet


def encode_sheet(sheet: Image.Image, limit_bytes: int) -> tuple[bytes, str]:
    """PNG when it fits ``limit_bytes``, else JPEG at falling quality; returns (data, extension)."""
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG", optimize=False)
    if buffer.tell() <= limit_bytes:
        return buffer.getvalue(), "png"
    for quality in (90, 80, 65, 50):
        buffer = io.BytesIO()
        sheet.save(buffer, "JPEG", quality=quality)
        if buffer.tell() <= limit_bytes:
            return buffer.getvalue(), "jpg"
    raise ValueError(f"the sheet does not fit in {limit_bytes} bytes even as a JPEG")
