"""Encoding results for Discord: PNGs carrying their parameters, size-capped files, grids."""

from __future__ import annotations

import io
import json
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from PIL import Image, PngImagePlugin

from generation.errors import InvalidImage, InvalidInput
from generation.images.image_decode import to_rgb

PARAMETERS_KEY = "parameters"  # the key AUTOMATIC1111 and most image viewers read
LCM_BOT_KEY = "lcm-bot"  # our exact, machine-readable copy
ANIMATION_FORMATS = ("gif", "webp")
GIF_COLOURS = (256, 128, 64, 32)
WEBP_QUALITIES = (90, 80, 70, 60, 50)
ANIMATION_WEBP_QUALITY = 80
SCALE_STEP = 0.75
MIN_ANIMATION_SIDE = 64
MIN_IMAGE_SIDE = 64
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Keys shown first, with AUTOMATIC1111's labels, so tools that parse its format find them.
_LEADING_LABELS = {"steps": "Steps", "seed": "Seed", "size": "Size", "model": "Model"}
_LABELS = {
    "guidance_scale": "CFG scale",
    "strength": "Denoising strength",
    "sampler": "Sampler",
    "scheduler": "Sampler",
}
# Shown on their own lines (prompt, negative) or folded into "Size", not in the key list.
_NOT_LISTED = {"prompt", "negative_prompt", "width", "height"}


@dataclass(frozen=True)
class _AnimationAttempt:
    """One rung of the size-reduction ladder for an animation."""

    colours: int | None  # GIF palette size; None for WebP
    frame_step: int  # 1 = every frame, 2 = every other frame
    size: tuple[int, int]


def encode_png(image: Image.Image, parameters: Mapping[str, object]) -> bytes:
    """PNG carrying ``parameters`` twice: an A1111-style line and the exact mapping as JSON."""
    info = PngImagePlugin.PngInfo()
    _add_text(info, PARAMETERS_KEY, format_parameters(parameters))
    # ASCII JSON: \u escapes round-trip every string exactly, even lone surrogates.
    _add_text(info, LCM_BOT_KEY, json.dumps(dict(parameters), ensure_ascii=True, default=str))
    buffer = io.BytesIO()
    _png_ready(image).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def read_png_parameters(data: bytes) -> dict:
    """Return the ``lcm-bot`` JSON of a PNG made by encode_png; {} when the PNG has none."""
    if not data.startswith(_PNG_MAGIC):
        raise InvalidImage("image", "this is not a PNG file", "a PNG made by lcm-bot")
    try:
        # Only the header and the text chunks before the pixels are read, never the pixels;
        # Pillow still refuses absurd declared sizes (over ~179 MP) outright.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
                raw = image.info.get(LCM_BOT_KEY)
    except Image.DecompressionBombError:
        raise InvalidImage(
            "image",
            "the PNG header claims a far larger picture than allowed",
            "a PNG made by lcm-bot",
        ) from None
    except Exception:
        raise InvalidImage(
            "image", "the PNG is damaged or truncated", "a PNG made by lcm-bot"
        ) from None
    if raw is None:
        return {}
    try:
        parameters = json.loads(raw)
    except ValueError:
        parameters = None
    if not isinstance(parameters, dict):
        raise InvalidImage("image", "its lcm-bot parameters are damaged", "a PNG made by lcm-bot")
    return parameters


def format_parameters(parameters: Mapping[str, object]) -> str:
    """AUTOMATIC1111-style text: prompt, optional "Negative prompt:" line, then "Key: value"."""
    lines = [str(parameters.get("prompt", ""))]
    negative = parameters.get("negative_prompt")
    if negative:
        lines.append(f"Negative prompt: {negative}")
    lines.append(", ".join(f"{label}: {value}" for label, value in _labelled_values(parameters)))
    return "\n".join(lines)


def encode_animation(
    frames: Sequence[Image.Image], *, fps: int, max_bytes: int, fmt: str = "gif"
) -> bytes:
    """Looping GIF or WebP no larger than ``max_bytes``.

    Too large: fewer colours (GIF: 256, 128, 64, 32), then every other frame (each shown twice
    as long, so the clip keeps its length), then 0.75× smaller steps down to a 64 px side.
    """
    fmt = _check_animation_arguments(frames, fps, max_bytes, fmt)
    rgb_frames = [to_rgb(frame) for frame in frames]
    smallest: tuple[int, _AnimationAttempt] | None = None
    for attempt in _animation_ladder(len(rgb_frames), rgb_frames[0].size, fmt):
        data = _write_animation(rgb_frames, attempt, fps, fmt)
        if len(data) <= max_bytes:
            return data
        if smallest is None or len(data) < smallest[0]:
            smallest = (len(data), attempt)
    assert smallest is not None  # the ladder always has a first rung
    size, attempt = smallest
    width, height = attempt.size
    reached = f"{width}×{height}, {len(rgb_frames[:: attempt.frame_step])} frames"
    if attempt.colours:
        reached += f", {attempt.colours} colours"
    raise InvalidInput(
        "max_bytes",
        f"the animation does not fit in {max_bytes} bytes;"
        f" the smallest reached was {size} bytes ({reached})",
        f"a budget of at least {size} bytes, or fewer or smaller frames",
    )


def encode_image_within(
    image: Image.Image, parameters: Mapping[str, object], *, max_bytes: int
) -> tuple[bytes, str]:
    """Return (data, extension): PNG with parameters if it fits, else WebP, else smaller WebP."""
    if max_bytes < 1:
        raise InvalidInput("max_bytes", f"{max_bytes} is not positive", "a positive byte count")
    png = encode_png(image, parameters)
    if len(png) <= max_bytes:
        return png, "png"
    smallest: tuple[int, tuple[int, int]] | None = None
    for scaled in _downscales(_webp_ready(image), MIN_IMAGE_SIDE):
        for quality in WEBP_QUALITIES:
            data = _encode_webp(scaled, quality)
            if len(data) <= max_bytes:
                return data, "webp"
            if smallest is None or len(data) < smallest[0]:
                smallest = (len(data), scaled.size)
    assert smallest is not None  # _downscales always yields the full-size image first
    size, (width, height) = smallest
    raise InvalidInput(
        "max_bytes",
        f"the image does not fit in {max_bytes} bytes; the smallest reached was {size} bytes"
        f" (a {width}×{height} WebP at quality {WEBP_QUALITIES[-1]})",
        f"a budget of at least {size} bytes",
    )


def make_grid(images: Sequence[Image.Image], columns: int | None = None) -> Image.Image:
    """Arrange images row by row on black; by default in a near-square grid."""
    if not images:
        raise InvalidInput("images", "there are no images to arrange", "at least one image")
    count = len(images)
    if columns is None:
        columns = math.ceil(math.sqrt(count))
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise InvalidInput("columns", f"{columns!r} is not a positive whole number", "1 or more")
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    cell_width = max(image.width for image in images)
    cell_height = max(image.height for image in images)
    grid = Image.new("RGB", (columns * cell_width, rows * cell_height))
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        # Smaller images are centred in their cell so rows and columns stay aligned.
        left = column * cell_width + (cell_width - image.width) // 2
        top = row * cell_height + (cell_height - image.height) // 2
        grid.paste(to_rgb(image), (left, top))
    return grid


def _add_text(info: PngImagePlugin.PngInfo, key: str, value: str) -> None:
    """tEXt holds Latin-1 only; anything else (emoji, CJK) goes into a UTF-8 iTXt chunk."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        # A lone surrogate cannot be UTF-8; write "?" there rather than fail the render.
        info.add_itxt(key, value.encode("utf-8", "replace").decode("utf-8"))
    else:
        info.add_text(key, value)


def _labelled_values(parameters: Mapping[str, object]) -> Iterator[tuple[str, str]]:
    """(label, text) pairs: Steps, Seed, Size, Model first, then the rest in mapping order."""
    values = dict(parameters)
    if "size" not in values and "width" in values and "height" in values:
        values["size"] = f"{values['width']}x{values['height']}"
    for key, label in _LEADING_LABELS.items():
        if values.get(key) is not None:
            yield label, _format_value(values[key])
    for key, value in values.items():
        if key in _LEADING_LABELS or key in _NOT_LISTED or value is None:
            continue
        label = _LABELS.get(key) or str(key).replace("_", " ").capitalize()
        yield label, _format_value(value)


def _format_value(value: object) -> str:
    """A1111 quotes values that contain its separators, so the line stays parseable."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    text = str(value)
    if any(separator in text for separator in (",", ":", "\n", '"')):
        return json.dumps(text, ensure_ascii=False)
    return text


def _png_ready(image: Image.Image) -> Image.Image:
    """PNG stores these modes losslessly; others (CMYK, 16-bit, float) become RGB first."""
    return image if image.mode in ("RGB", "RGBA", "L", "LA", "P", "1") else to_rgb(image)


def _webp_ready(image: Image.Image) -> Image.Image:
    return image if image.mode in ("RGB", "RGBA") else to_rgb(image)


def _encode_webp(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=quality, method=4)
    return buffer.getvalue()


def _downscales(image: Image.Image, min_side: int) -> Iterator[Image.Image]:
    """The image itself, then 0.75× steps while the short side stays >= min_side."""
    yield image
    for size in _scaled_sizes(image.size, min_side):
        yield image.resize(size, Image.Resampling.LANCZOS)


def _scaled_sizes(size: tuple[int, int], min_side: int) -> Iterator[tuple[int, int]]:
    width, height = size
    scale = SCALE_STEP
    while min(round(width * scale), round(height * scale)) >= min_side:
        yield round(width * scale), round(height * scale)
        scale *= SCALE_STEP


def _check_animation_arguments(
    frames: Sequence[Image.Image], fps: int, max_bytes: int, fmt: str
) -> str:
    fmt = str(fmt).lower()
    if fmt not in ANIMATION_FORMATS:
        raise InvalidInput("format", f"{fmt!r} is not an animation format", "gif or webp")
    if not frames:
        raise InvalidInput("frames", "there are no frames", "at least one frame")
    if isinstance(fps, bool) or not isinstance(fps, int) or not 1 <= fps <= 50:
        # GIF delays are whole centiseconds and viewers slow anything under 2 cs down.
        raise InvalidInput("fps", f"{fps!r} is out of range", "a whole number from 1 to 50")
    if max_bytes < 1:
        raise InvalidInput("max_bytes", f"{max_bytes} is not positive", "a positive byte count")
    sizes = {frame.size for frame in frames}
    if len(sizes) != 1:
        raise InvalidInput("frames", "the frames differ in size", "frames of one size")
    return fmt


def _animation_ladder(
    frame_count: int, size: tuple[int, int], fmt: str
) -> Iterator[_AnimationAttempt]:
    """Attempts from best to smallest; each rung keeps the reductions of the previous ones."""
    colour_steps: tuple[int | None, ...] = GIF_COLOURS if fmt == "gif" else (None,)
    for colours in colour_steps:
        yield _AnimationAttempt(colours, 1, size)
    colours = colour_steps[-1]
    # Halving only while at least two frames remain, so the result still moves.
    frame_step = 2 if frame_count >= 3 else 1
    if frame_step == 2:
        yield _AnimationAttempt(colours, frame_step, size)
    for smaller in _scaled_sizes(size, MIN_ANIMATION_SIDE):
        yield _AnimationAttempt(colours, frame_step, smaller)


def _write_animation(
    frames: Sequence[Image.Image], attempt: _AnimationAttempt, fps: int, fmt: str
) -> bytes:
    kept = [_resized(frame, attempt.size) for frame in frames[:: attempt.frame_step]]
    duration = round(1000 * attempt.frame_step / fps)
    buffer = io.BytesIO()
    if fmt == "gif":
        palette = _shared_palette(kept, attempt.colours or 256)
        # No dithering: it adds noise that LZW cannot compress, and the point here is size.
        paletted = [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame in kept]
        paletted[0].save(
            buffer,
            "GIF",
            save_all=True,
            append_images=paletted[1:],
            duration=duration,
            loop=0,
        )
    else:
        kept[0].save(
            buffer,
            "WEBP",
            save_all=True,
            append_images=kept[1:],
            duration=duration,
            loop=0,
            quality=ANIMATION_WEBP_QUALITY,
            method=4,
        )
    return buffer.getvalue()


def _shared_palette(frames: Sequence[Image.Image], colours: int) -> Image.Image:
    """One palette for the whole clip, from thumbnails of up to 16 frames.

    A shared palette avoids per-frame colour flicker and a local colour table per frame, and
    median cut on a small montage is bounded in cost (on full noise frames it takes ~0.15 s each).
    """
    step = max(1, math.ceil(len(frames) / 16))
    samples = frames[::step]
    thumbnails = [frame.resize(_thumbnail_size(frame.size, 128)) for frame in samples]
    width, height = thumbnails[0].size
    montage = Image.new("RGB", (width * len(thumbnails), height))
    for index, thumbnail in enumerate(thumbnails):
        montage.paste(thumbnail, (index * width, 0))
    return montage.quantize(colours, method=Image.Quantize.MEDIANCUT)


def _thumbnail_size(size: tuple[int, int], longest: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resized(frame: Image.Image, size: tuple[int, int]) -> Image.Image:
    return frame if frame.size == size else frame.resize(size, Image.Resampling.LANCZOS)
