"""Between slash-command options, stored parameters (plain JSON) and the GenerationRequest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PIL.Image import Image

from generation.families import Mode, ModelFamily
from generation.requests import GenerationRequest
from generation.styles import StyleChoice


def builtin_defaults(family: ModelFamily) -> dict[str, Any]:
    """The last level of precedence: what a job uses when nobody chose anything."""
    return {
        "negative_prompt": "",
        "size": f"{family.default_size}x{family.default_size}",
        "steps": 4,
        "guidance": family.default_guidance,
        "count": 1,
        "strength": 0.6,
        "style": None,
        "style_weight": None,
        "adapter": "controlnet",
        "low_threshold": 100,
        "high_threshold": 200,
        "conditioning_scale": 0.8,
        "frames": 16,
        "fps": 8,
        "motion": None,
        "quality": "full",
    }


def build_request(
    mode: Mode,
    prompt: str,
    values: Mapping[str, Any],
    *,
    seed: int | None = None,
    image: Image | None = None,
    mask: Image | None = None,
    safety_check: bool = False,
    size_from_image: bool = False,
) -> GenerationRequest:
    """A GenerationRequest from effective values (options over presets over defaults)."""
    from generation.sizing import parse_size

    width = height = None
    if not size_from_image and values.get("size"):
        width, height = parse_size(str(values["size"]))
    styles: tuple[StyleChoice, ...] = ()
    if values.get("style"):
        styles = (StyleChoice(str(values["style"]), _maybe_float(values.get("style_weight"))),)
    if mode in (Mode.CONTROLNET, Mode.T2I_ADAPTER):
        mode = Mode.T2I_ADAPTER if values.get("adapter") == "t2i-adapter" else Mode.CONTROLNET
    return GenerationRequest(
        mode=mode,
        prompt=prompt,
        negative_prompt=str(values.get("negative_prompt") or ""),
        width=width,
        height=height,
        steps=int(values["steps"]),
        guidance=_maybe_float(values.get("guidance")),
        seed=seed,
        count=int(values["count"]),
        strength=float(values["strength"]),
        image=image,
        mask=mask,
        canny_low=int(values["low_threshold"]),
        canny_high=int(values["high_threshold"]),
        conditioning_scale=float(values["conditioning_scale"]),
        styles=styles,
        frames=int(values["frames"]),
        fps=int(values["fps"]),
        motion=values.get("motion") or None,
        safety_check=safety_check,
        quality=str(values.get("quality") or "full"),
    )


def journal_parameters(request: GenerationRequest) -> dict[str, Any]:
    """Everything needed to run ``request`` again, as plain JSON (images are stored apart)."""
    style = request.styles[0] if request.styles else None
    return {
        "mode": str(request.mode),
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "size": f"{request.width}x{request.height}",
        "steps": request.steps,
        "guidance": request.guidance,
        "seed": request.seed,
        "count": request.count,
        "strength": request.strength,
        "style": style.name if style else None,
        "style_weight": style.weight if style else None,
        "adapter": "t2i-adapter" if request.mode is Mode.T2I_ADAPTER else "controlnet",
        "low_threshold": request.canny_low,
        "high_threshold": request.canny_high,
        "conditioning_scale": request.conditioning_scale,
        "frames": request.frames,
        "fps": request.fps,
        "motion": request.motion,
        "quality": request.quality,
    }


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)
