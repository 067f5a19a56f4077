"""Write a generation result to files: PNGs with their parameters, animations, the edge map."""

from __future__ import annotations

from pathlib import Path

from generation.images.encode import encode_animation, encode_png
from generation.modes.requests import GenerationResult

# Files written locally have no upload limit; this only stops a runaway animation.
LOCAL_ANIMATION_BUDGET = 64 * 1024 * 1024


def write_result_files(
    result: GenerationResult, out_dir: Path, *, animation_format: str = "gif"
) -> list[Path]:
    """Write every image (or animation) of ``result`` into ``out_dir``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    request = result.request
    stem = str(request.mode)
    paths: list[Path] = []
    for index, seed in enumerate(result.seeds):
        parameters = {**result.parameters, "seed": seed}
        if result.nsfw is not None:
            parameters["nsfw"] = result.nsfw[index]
        if result.animations:
            path = out_dir / f"{stem}-{seed}.{animation_format}"
            data = encode_animation(
                result.animations[index],
                fps=request.fps,
                max_bytes=LOCAL_ANIMATION_BUDGET,
                fmt=animation_format,
            )
        else:
            path = out_dir / f"{stem}-{seed}.png"
            data = encode_png(result.images[index], parameters)
        path.write_bytes(data)
        paths.append(path)
    if result.control_image is not None:
        path = out_dir / f"{stem}-{request.seed}-edges.png"
        result.control_image.save(path, "PNG")
        paths.append(path)
    return paths
