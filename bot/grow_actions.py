"""Upscale, zoom out and pan from one posted picture: the parameters of the job a panel starts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generation.modes import Mode

# Each panel button → its mode and that mode's own fields (generation.modes declares them).
GROWS: Mapping[str, dict[str, Any]] = {
    "up2": dict(mode=Mode.UPSCALE, scale=2, upscale_kind="subtle"),
    "up4": dict(mode=Mode.UPSCALE, scale=4, upscale_kind="subtle"),
    "up2c": dict(mode=Mode.UPSCALE, scale=2, upscale_kind="creative"),
    "up4c": dict(mode=Mode.UPSCALE, scale=4, upscale_kind="creative"),
    "zoom15": dict(mode=Mode.OUTPAINT, outpaint="zoom-1.5"),
    "zoom2": dict(mode=Mode.OUTPAINT, outpaint="zoom-2"),
    "pan-left": dict(mode=Mode.OUTPAINT, outpaint="pan-left"),
    "pan-right": dict(mode=Mode.OUTPAINT, outpaint="pan-right"),
    "pan-up": dict(mode=Mode.OUTPAINT, outpaint="pan-up"),
    "pan-down": dict(mode=Mode.OUTPAINT, outpaint="pan-down"),
}


def grow_parameters(parameters: Mapping[str, Any], action: str) -> dict[str, Any]:
    """The parent job's prompt, styles and quality, in the mode ``action`` runs.

    The size comes from the picture (its factor or zoom applied), one picture is made, and
    steps, guidance and strength are the mode's recipe: the parent's were for making a
    picture, not for growing one.
    """
    grow = GROWS[action]
    values = dict(parameters)
    values.update(size=None, count=1, steps=None, guidance=None, strength=None)
    values.update({name: value for name, value in grow.items() if name != "mode"})
    values["mode"] = grow["mode"].value
    return values
