"""Turn a GenerationResult into Discord files within the upload limit, with the NSFW policy."""

from __future__ import annotations

import io
from dataclasses import dataclass

import discord

from generation.images.encode import encode_animation, encode_image_within, make_grid
from generation.modes.requests import GenerationResult

MAX_FILES = 10  # Discord refuses an 11th attachment (code 30015)


@dataclass(frozen=True)
class ResultFiles:
    files: list[discord.File]
    blocked: int  # pictures withheld by the safety policy
    spoilered: int


def build_result_files(
    result: GenerationResult, *, limit_bytes: int, flagged: str = "block"
) -> ResultFiles:
    """Encode every picture (PNG with parameters, or GIF) under ``limit_bytes`` per file.

    ``flagged`` says what to do with pictures the safety check flagged: "block" leaves them out,
    "spoiler" posts them behind a spoiler, "allow" posts them as they are.
    """
    flags = result.nsfw or (False,) * len(result.seeds)
    keep, blocked, spoilered = [], 0, 0
    for index, is_flagged in enumerate(flags):
        if is_flagged and flagged == "block":
            blocked += 1
            continue
        spoiler = is_flagged and flagged == "spoiler"
        spoilered += spoiler
        keep.append((index, spoiler))
    pictures = len(keep) + (result.control_image is not None and bool(keep))
    budget = max(1, limit_bytes // max(1, min(pictures, MAX_FILES)))
    files: list[discord.File] = []
    if result.animations:
        for index, spoiler in keep:
            data = encode_animation(
                result.animations[index], fps=result.request.fps, max_bytes=budget, fmt="gif"
            )
            files.append(_file(data, f"lcm-{result.seeds[index]}.gif", spoiler))
    elif len(keep) > MAX_FILES - 1:
        grid = make_grid([result.images[i] for i, _ in keep])
        data, ext = encode_image_within(grid, result.parameters, max_bytes=budget)
        files.append(_file(data, f"lcm-grid.{ext}", any(s for _, s in keep)))
    else:
        for index, spoiler in keep:
            parameters = {**result.parameters, "seed": result.seeds[index]}
            data, ext = encode_image_within(result.images[index], parameters, max_bytes=budget)
            files.append(_file(data, f"lcm-{result.seeds[index]}.{ext}", spoiler))
    if result.control_image is not None and keep:
        data, ext = encode_image_within(result.control_image, {}, max_bytes=budget)
        files.append(_file(data, f"edges.{ext}", False))
    return ResultFiles(files, blocked, spoilered)


def _file(data: bytes, name: str, spoiler: bool) -> discord.File:
    return discord.File(io.BytesIO(data), filename=name, spoiler=spoiler)
