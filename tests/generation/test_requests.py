"""Request validation: each error names the parameter and the allowed range, before any GPU work."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from generation.errors import InvalidInput
from generation.models.families import HUB_FAMILIES, resolve_family
from generation.models.styles import Style, StyleChoice, StyleLibrary
from generation.modes import Mode, default_guidance
from generation.modes.requests import GenerationRequest, validate_request

SD15 = HUB_FAMILIES["sd15"]
IMAGE = Image.new("RGB", (640, 480), "gray")
MASK = Image.new("L", (640, 480), 255)


def request(mode=Mode.TXT2IMG, **fields) -> GenerationRequest:
    defaults = dict(mode=mode, prompt="a lighthouse at dusk", seed=5)
    if Mode(mode).needs_image:
        defaults["image"] = IMAGE
    if mode == Mode.INPAINT:
        defaults["mask"] = MASK
    defaults.update(fields)
    return GenerationRequest(**defaults)


# (fields, parameter named, text the allowed range must contain)
BAD = [
    (dict(steps=0), "steps", "1–8"),
    (dict(steps=9), "steps", "1–8"),
    (dict(count=0), "count", "1–8"),
    (dict(count=9), "count", "1–8"),
    (dict(guidance=-1.0), "guidance", "0.0–8.0"),
    (dict(guidance=9.0), "guidance", "0.0–8.0"),
    (dict(seed=-1), "seed", "0–4294967295"),
    (dict(seed=2**32), "seed", "0–4294967295"),
    (dict(prompt="   "), "prompt", "1–2000 characters"),
    (dict(prompt="x" * 2001), "prompt", "1–2000 characters"),
    (dict(width=500, height=512), "size", "a multiple of 8"),
    (dict(width=128, height=512), "size", "256"),
    (dict(width=2048, height=512), "size", "1024"),
    (dict(width=512), "size", "WIDTHxHEIGHT"),
    (dict(mode=Mode.IMG2IMG, steps=4, strength=0.2), "strength", "steps × strength ≥ 1"),
    (dict(mode=Mode.IMG2IMG, strength=1.5), "strength", "0.01–1.0"),
    (dict(mode=Mode.IMG2IMG, image=None), "image", "PNG, JPEG, WebP or GIF"),
    (dict(mode=Mode.INPAINT, mask=None), "mask", "white = repaint"),
    (dict(mode=Mode.CONTROLNET, canny_low=300), "low_threshold", "0–255"),
    (dict(mode=Mode.CONTROLNET, canny_high=-5), "high_threshold", "0–255"),
    (dict(mode=Mode.T2I_ADAPTER, canny_low=200, canny_high=100), "low_threshold", "≤"),
    (dict(mode=Mode.CONTROLNET, conditioning_scale=3.0), "conditioning_scale", "0.0–2.0"),
    (dict(mode=Mode.ANIMATE, frames=4), "frames", "8–24"),
    (dict(mode=Mode.ANIMATE, frames=25), "frames", "8–24"),
    (dict(mode=Mode.ANIMATE, fps=0), "fps", "1–30"),
    (dict(mode=Mode.ANIMATE, motion="spin"), "motion", "zoom-in"),
    (dict(styles=(StyleChoice("nope", 1.0),)), "style", "none configured"),
]


@pytest.mark.parametrize(("fields", "parameter", "allowed"), BAD)
def test_bad_parameters_name_the_parameter_and_the_allowed_range(fields, parameter, allowed):
    with pytest.raises(InvalidInput) as caught:
        validate_request(request(**fields), SD15)
    error = caught.value
    assert error.parameter == parameter
    assert allowed in str(error), str(error)
    assert str(error).startswith(f"{parameter}: ")


def test_img2img_steps_times_strength_message_gives_the_smallest_strength():
    with pytest.raises(InvalidInput, match=re.escape("strength ≥ 0.25 at 4 steps")):
        validate_request(request(Mode.IMG2IMG, steps=4, strength=0.2), SD15)
    ok = validate_request(request(Mode.IMG2IMG, steps=4, strength=0.25), SD15)
    assert ok.denoising_steps == 1


def test_modes_a_family_lacks_are_refused_with_its_modes():
    with pytest.raises(InvalidInput, match="controlnet is not available for the ssd-1b") as caught:
        validate_request(request(Mode.CONTROLNET), HUB_FAMILIES["ssd-1b"])
    assert "txt2img, img2img, inpaint" in str(caught.value)
    with pytest.raises(InvalidInput, match="animate"):
        validate_request(request(Mode.ANIMATE), HUB_FAMILIES["sdxl"])


def test_defaults_are_resolved_once():
    resolved = validate_request(request(seed=None, guidance=None), SD15)
    assert (resolved.width, resolved.height) == (512, 512)
    assert resolved.guidance == default_guidance(SD15)
    assert 0 <= resolved.seed < 2**32
    assert validate_request(request(), HUB_FAMILIES["dreamshaper-lcm"]).guidance == 8.0


def test_image_modes_take_their_size_from_the_upload_and_resize_image_and_mask():
    resolved = validate_request(request(Mode.INPAINT, seed=1), SD15)
    assert (resolved.width, resolved.height) == (512, 384)  # 640×480 fitted into 512, kept 4:3
    assert resolved.image.size == resolved.mask.size == (512, 384)
    assert set(np.asarray(resolved.mask).ravel().tolist()) == {255}


def test_styles_are_checked_against_the_allow_list_and_the_family():
    styles = StyleLibrary(
        {
            "ink": Style("ink", "a/b", None, 0.7, ("ink",), "sd"),
            "film": Style("film", "c/d", None, 1.0, (), "sdxl"),
        }
    )
    ok = validate_request(request(styles=(StyleChoice("ink", None),)), SD15, styles)
    assert ok.styles == (StyleChoice("ink", 0.7),), "the operator's default weight fills in"
    with pytest.raises(InvalidInput, match="made for another model family") as caught:
        validate_request(request(styles=(StyleChoice("film", 1.0),)), SD15, styles)
    assert "ink" in str(caught.value)
    with pytest.raises(InvalidInput, match="out of range"):
        validate_request(request(styles=(StyleChoice("ink", 5.0),)), SD15, styles)
    with pytest.raises(InvalidInput, match="twice"):
        validate_request(
            request(styles=(StyleChoice("ink", 1), StyleChoice("ink", 0.5))), SD15, styles
        )
    for hostile in ("../ink", "/etc/passwd", "ink\x00", "INK"):
        with pytest.raises(InvalidInput, match="unknown style"):
            validate_request(request(styles=(StyleChoice(hostile, 1.0),)), SD15, styles)


def test_batch_key_groups_only_compatible_requests():
    a = validate_request(request(seed=1), SD15)
    b = validate_request(request(seed=2, prompt="another prompt"), SD15)
    c = validate_request(request(seed=1, steps=6), SD15)
    d = validate_request(request(seed=1, width=512, height=768), SD15)
    assert a.batch_key() == b.batch_key()
    assert len({a.batch_key(), c.batch_key(), d.batch_key()}) == 3


def test_tiny_family_limits_apply():
    tiny = resolve_family("tiny")
    with pytest.raises(InvalidInput, match="32"):
        validate_request(request(width=16, height=16), tiny)
    assert validate_request(request(), tiny).width == 64
