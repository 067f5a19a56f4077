"""Run a batch of outpaint jobs through the inpainting pipeline, then blend the seam away."""

from __future__ import annotations

from dataclasses import replace

from PIL import Image

from generation.images.outpaint import outpaint_canvas
from generation.modes import Mode


def run(pipelines, requests, on_step=None):
    """One result per request: the canvas inpainted where it is new, feathered into the picture."""
    plans, inpaint_requests = [], []
    for request in requests:
        canvas, hard, blend = outpaint_canvas(
            request.image, request.outpaint, (request.width, request.height)
        )
        plans.append((canvas, blend))
        inpaint_requests.append(
            replace(request, mode=Mode.INPAINT, image=canvas, mask=hard, outpaint=None)
        )
    results = pipelines.run(inpaint_requests, on_step)
    blended = []
    for request, result, (canvas, blend) in zip(requests, results, plans, strict=True):
        images = tuple(Image.composite(image, canvas, blend) for image in result.images)
        blended.append(
            replace(
                result, request=request, images=images, parameters=pipelines.parameters_for(request)
            )
        )
    return blended
