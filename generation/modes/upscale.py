"""Run a batch of upscale jobs: the upscaler (spandrel), then (creative) a tiled LCM detail pass.

Both stages work in tiles, so memory depends on the tile, not on the output: a 2048² creative
upscale runs the img2img pipeline on the family's native size (512² for SD1.5) a tile at a time.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from generation.errors import ModelUnavailable
from generation.models.families import ModelFamily
from generation.modes import Mode
from generation.modes.requests import GenerationRequest, GenerationResult

# The upscaler's own tiles (input pixels) and their overlap: an RRDB's activations at 64
# features for a 512² input are 4 GB in float32; a 256² tile keeps them under 1 GB.
UPSCALER_TILE, UPSCALER_PAD = 256, 16
# Detail-pass tiles overlap by this share of a side, blended with linear ramps (no seam).
OVERLAP_SHARE = 8
TILES_PER_CALL = 4  # detail tiles run together in one pipeline call


def upscaler_file(family: ModelFamily, scale: int) -> Path:
    """The safetensors file of the family's upscaler for ``scale``: a local folder or a repo."""
    name = family.upscaler_files[scale]
    source = family.upscaler
    if Path(source).is_dir():
        return Path(source) / name
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(source, name))
    except Exception as exc:  # offline, missing file, gated: one line for the operator
        raise ModelUnavailable(f"cannot load the upscaler {source}/{name}: {exc}") from exc


def run(pipelines, requests, on_step=None) -> list[GenerationResult]:
    """One result per request (each of ``count`` pictures from its own seed when creative)."""
    from generation.models.upscalers import load_upscaler

    first = requests[0]
    model = pipelines.cached(
        ("upscaler", first.scale),
        lambda: load_upscaler(
            upscaler_file(pipelines.family, first.scale),
            scale=first.scale,
            device=pipelines.device,
            dtype=pipelines.dtype,
        ),
    )
    creative = first.upscale_kind == "creative"
    tiles = len(tile_boxes(first.width, first.height, detail_tile(pipelines.family, first)))
    progress = _Progress(on_step, sum(r.count for r in requests) * (tiles if creative else 1))
    results = []
    for request in requests:
        upscaled = upscale_picture(model, request.image)
        pictures = []
        for seed in request.image_seeds():
            if creative:
                pictures.append(detail_pass(pipelines, request, upscaled, seed, progress))
            else:
                pictures.append(upscaled)
                progress.advance(1)
        results.append(_result(pipelines, request, pictures))
    return results


def _result(pipelines, request, pictures) -> GenerationResult:
    nsfw = None
    if request.safety_check:
        nsfw = tuple(pipelines.safety_checker().check(pictures))
    return GenerationResult(
        request=request,
        seeds=request.image_seeds(),
        images=tuple(pictures),
        nsfw=nsfw,
        warnings=pipelines.warnings_for(request) if request.upscale_kind == "creative" else (),
        parameters=pipelines.parameters_for(request),
    )


def upscale_picture(model, picture: Image.Image) -> Image.Image:
    """The upscaler over ``picture`` in overlapping tiles; each tile's border is cropped away."""
    scale = model.scale
    pixels = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0
    height, width = pixels.shape[:2]
    out = np.zeros((height * scale, width * scale, 3), dtype=np.float32)
    for top in range(0, height, UPSCALER_TILE):
        for left in range(0, width, UPSCALER_TILE):
            bottom, right = min(top + UPSCALER_TILE, height), min(left + UPSCALER_TILE, width)
            # Read a padded window so each tile sees its neighbours; keep only its own part.
            t0, l0 = max(0, top - UPSCALER_PAD), max(0, left - UPSCALER_PAD)
            b0, r0 = min(height, bottom + UPSCALER_PAD), min(width, right + UPSCALER_PAD)
            window = torch.from_numpy(pixels[t0:b0, l0:r0]).permute(2, 0, 1)[None]
            with torch.inference_mode():
                result = model(window.to(model.device, model.dtype))
            result = result[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            y, x = (top - t0) * scale, (left - l0) * scale
            h, w = (bottom - top) * scale, (right - left) * scale
            out[top * scale : bottom * scale, left * scale : right * scale] = result[
                y : y + h, x : x + w
            ]
    return Image.fromarray((out * 255.0).round().astype(np.uint8))


def detail_tile(family: ModelFamily, request: GenerationRequest) -> tuple[int, int]:
    """The detail pass's tile: the family's native size, or the whole picture when smaller."""
    side = family.default_size
    return min(side, request.width), min(side, request.height)


def tile_boxes(width: int, height: int, tile: tuple[int, int]) -> list[tuple[int, int]]:
    """Top-left corners of overlapping tiles covering width × height; the last ones end flush."""
    tw, th = tile

    def starts(length: int, size: int) -> list[int]:
        if length <= size:
            return [0]
        step = size - max(8, size // OVERLAP_SHARE)
        return [*range(0, length - size, step), length - size]

    return [(x, y) for y in starts(height, th) for x in starts(width, tw)]


def detail_pass(pipelines, request, upscaled: Image.Image, seed: int, progress) -> Image.Image:
    """A low-strength img2img over each tile of ``upscaled``, blended back with linear ramps."""
    tile = detail_tile(pipelines.family, request)
    boxes = tile_boxes(request.width, request.height, tile)
    total = np.zeros((request.height, request.width, 3), dtype=np.float64)
    weights = np.zeros((request.height, request.width, 1), dtype=np.float64)
    ramp = _tile_weights(tile)
    for start in range(0, len(boxes), TILES_PER_CALL):
        group = boxes[start : start + TILES_PER_CALL]
        tile_requests = [
            replace(
                request,
                mode=Mode.IMG2IMG,
                image=upscaled.crop((x, y, x + tile[0], y + tile[1])),
                width=tile[0],
                height=tile[1],
                count=1,
                seed=seed,
                scale=None,
                safety_check=False,
            )
            for x, y in group
        ]
        outputs = pipelines.run(tile_requests, progress.hook(len(group)))
        for (x, y), output in zip(group, outputs, strict=True):
            pixels = np.asarray(output.images[0], dtype=np.float64)
            total[y : y + tile[1], x : x + tile[0]] += pixels * ramp
            weights[y : y + tile[1], x : x + tile[0]] += ramp
    return Image.fromarray((total / weights).round().clip(0, 255).astype(np.uint8))


def _tile_weights(tile: tuple[int, int]) -> np.ndarray:
    """1 in the middle, falling linearly to near 0 over the overlap at every edge."""
    tw, th = tile

    def axis(size: int) -> np.ndarray:
        overlap = max(8, size // OVERLAP_SHARE)
        position = np.arange(size, dtype=np.float64)
        return np.minimum(1.0, np.minimum(position + 1, size - position) / overlap)

    return (axis(th)[:, None] * axis(tw)[None, :])[..., None]


class _Progress:
    """Turns each tile call's step reports into one count over the whole job."""

    def __init__(self, on_step, total_units: int) -> None:
        self._on_step = on_step
        self._total = max(1, total_units)
        self._done = 0

    def advance(self, units: int) -> bool | None:
        self._done += units
        if self._on_step is not None:
            return self._on_step(self._done, self._total)
        return None

    def hook(self, units: int):
        """An on_step for one pipeline call of ``units`` tiles: counted when its steps end."""
        started = self._done

        def on_step(step: int, steps: int) -> bool | None:
            self._done = started + units * step // max(1, steps)
            if self._on_step is None:
                return None
            return self._on_step(self._done, self._total)

        return on_step
