"""Zoom out ×2 of a 256² tiny picture: the canvas size, and how far in from the picture's edge
its original pixels change (they must change only within the feather width).

    python bench/outpaint_feather.py
"""

from __future__ import annotations

import dataclasses

import numpy as np


def main() -> None:
    from generation.images.outpaint_geometry import feather_width, picture_box
    from generation.models.families import resolve_family
    from generation.modes import Mode
    from generation.modes.pipelines import PipelineSet
    from generation.modes.requests import GenerationRequest, validate_request

    family = dataclasses.replace(resolve_family("tiny"), max_side=512)
    pipes = PipelineSet(family)
    made = GenerationRequest(mode=Mode.TXT2IMG, prompt="a harbour", width=256, height=256, seed=1)
    (picture,) = pipes.run([validate_request(made, family)])[0].images
    zoom = GenerationRequest(
        mode=Mode.OUTPAINT, prompt="a harbour", image=picture, outpaint="zoom-2", seed=2
    )
    (canvas,) = pipes.run([validate_request(zoom, family)])[0].images
    left, top, right, bottom = picture_box("zoom-2", *canvas.size)
    band = feather_width("zoom-2", *canvas.size)
    inside = np.asarray(canvas).astype(int)[top:bottom, left:right]
    original = np.asarray(picture).astype(int)
    core = np.abs(inside - original)[band:-band, band:-band].max()
    ys, xs = np.nonzero(np.abs(inside - original).max(axis=2) > 0)
    edges = (xs, ys, (right - left - 1) - xs, (bottom - top - 1) - ys)
    deepest = int(np.minimum.reduce(edges).max()) if len(xs) else -1
    print(
        f"input {picture.size}, canvas {canvas.size}, picture at {(left, top, right, bottom)}, "
        f"feather {band} px; largest change inside the feather's inner edge: {core}; "
        f"changed original pixels lie at most {deepest} px in from the picture's edge"
    )


if __name__ == "__main__":
    main()
