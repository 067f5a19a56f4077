"""The journal keeps what each mode's declaration lists, and a journaled job runs again the same."""

from __future__ import annotations

import pytest
from PIL import Image

from bot.job_parameters import OPTION_NAMES, build_request, journal_parameters
from generation.models.families import HUB_FAMILIES
from generation.modes import Mode
from generation.modes.requests import GenerationRequest, validate_request

COMMON = {"mode", "prompt", "negative_prompt", "size", "steps", "guidance", "seed", "count"}
COMMON |= {"styles", "quality"}


@pytest.mark.parametrize("mode", list(Mode), ids=str)
def test_a_journaled_job_is_its_modes_fields_and_runs_again_the_same(mode):
    family = HUB_FAMILIES["sd15"]
    picture = Image.new("RGB", (512, 384), (40, 90, 200))
    mask = Image.new("L", (512, 384), 255)
    request = validate_request(
        GenerationRequest(
            mode=mode,
            prompt="a harbour at dawn",
            image=picture if mode.needs_image else None,
            mask=mask if mode is Mode.INPAINT else None,
            canny_low=40,
            fps=12,
            motion="zoom-in" if mode is Mode.ANIMATE else None,
            scale=2 if mode is Mode.UPSCALE else None,
            outpaint="zoom-2" if mode is Mode.OUTPAINT else None,
        ),
        family,
    )
    journaled = journal_parameters(request)
    own = {OPTION_NAMES.get(name, name) for name in mode.spec.fields}
    adapter = {"adapter"} if mode.spec.control_channels else set()
    assert set(journaled) == COMMON | own | adapter

    again = build_request(
        mode,
        journaled["prompt"],
        journaled,
        seed=journaled["seed"],
        image=request.image,
        mask=request.mask,
    )
    rerun = validate_request(again, family)
    # What the job is: the common fields and its mode's own (unused ones are not journaled).
    compared = ["mode", "prompt", "negative_prompt", "width", "height", "steps", "guidance"]
    compared += ["seed", "count", "styles", "quality", *mode.spec.fields]
    assert {f: getattr(rerun, f) for f in compared} == {f: getattr(request, f) for f in compared}
