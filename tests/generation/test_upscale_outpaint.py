"""Upscale (the ESRGAN upscaler, then a tiled detail pass) and outpaint (zoom out, pan) on tiny."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from PIL import Image

from generation.errors import InvalidInput, ModelUnavailable
from generation.images.outpaint_geometry import feather_width, picture_box
from generation.modes import Mode
from generation.modes.requests import GenerationRequest, validate_request
from generation.modes.upscale import tile_boxes


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def _distance(a: Image.Image, b: Image.Image) -> float:
    """Mean pixel difference once both are at b's size."""
    return float(np.abs(_pixels(a.resize(b.size, Image.BILINEAR)) - _pixels(b)).mean())


def _upscale(pipes, picture, scale, kind, on_step=None):
    request = GenerationRequest(
        mode=Mode.UPSCALE, prompt="shapes", image=picture, scale=scale, upscale_kind=kind, seed=3
    )
    (result,) = pipes.run([validate_request(request, pipes.family)], on_step)
    return result


def test_the_upscaler_doubles_and_quadruples_the_picture_it_was_given(tiny_pipelines, photo):
    small = photo.resize((32, 32))
    other = Image.fromarray(255 - np.asarray(small))  # a different picture, same size
    for scale in (2, 4):
        result = _upscale(tiny_pipelines, small, scale, "subtle")
        (picture,) = result.images
        assert picture.size == (32 * scale, 32 * scale)
        assert result.parameters["mode"] == "upscale" and result.parameters["scale"] == scale
        # It is that picture, larger: far nearer to it than to another picture.
        assert _distance(picture, small) < _distance(picture, other) / 3


def test_the_creative_upscale_runs_its_detail_pass_tile_by_tile(tiny_pipelines, photo):
    small = photo.resize((48, 48))
    reports = []
    subtle = _upscale(tiny_pipelines, small, 2, "subtle").images[0]
    creative = _upscale(tiny_pipelines, small, 2, "creative", lambda d, t: reports.append((d, t)))
    (picture,) = creative.images
    assert picture.size == (96, 96)
    # tiny's native 64² tiles over 96²: four overlapping tiles, each counted as it finishes.
    assert tile_boxes(96, 96, (64, 64)) == [(0, 0), (32, 0), (0, 32), (32, 32)]
    assert reports[-1] == (4, 4)
    # The img2img pass repainted the upscaled picture (tiny's random VAE and UNet change it a
    # lot, so how near it stays to the picture is the real models' business, not this test's).
    assert _distance(picture, subtle) > 1


def test_a_file_that_is_no_upscaler_or_the_wrong_one_is_refused_by_name(tmp_path):
    import torch
    from safetensors.torch import save_file

    from generation.models.testing.tiny_upscaler import TINY_RRDB, write_esrgan
    from generation.models.upscalers import load_upscaler

    path = tmp_path / "not-an-upscaler.safetensors"
    save_file({"conv_in.weight": torch.zeros(4, 3, 3, 3)}, str(path))
    with pytest.raises(ModelUnavailable, match="its keys match no architecture spandrel knows"):
        load_upscaler(path, scale=2)
    x2 = tmp_path / "x2.safetensors"
    write_esrgan(x2, {"real": {"scale": 2}, "shrunk": TINY_RRDB})
    # An ESRGAN whose growth is not the 32 spandrel takes: the size mismatch is named.
    narrow = tmp_path / "narrow.safetensors"
    write_esrgan(narrow, {"real": {"scale": 2}, "shrunk": {**TINY_RRDB, "growth": 4}})
    with pytest.raises(ModelUnavailable, match=r"do not fit the network .*size mismatch for"):
        load_upscaler(narrow, scale=2)
    page = tmp_path / "page.safetensors"  # a download that was an HTML page
    page.write_text("<html>rate limited</html>")
    with pytest.raises(ModelUnavailable, match=r"cannot read the upscaler .*SafetensorError"):
        load_upscaler(page, scale=2)
    with pytest.raises(ModelUnavailable, match="it is a ×2 ESRGAN, not ×4"):
        load_upscaler(x2, scale=4)
    pickle = tmp_path / "x2.pth"
    pickle.write_bytes(b"never unpickled")
    with pytest.raises(ModelUnavailable, match=r"only \.safetensors files are read"):
        load_upscaler(pickle, scale=2)
    model = load_upscaler(x2, scale=2)
    assert model.architecture.name == "ESRGAN" and model.scale == 2
    # Odd sides: ×2 folds its input in 2×2 cells, so spandrel pads and crops back.
    assert model(torch.rand(1, 3, 17, 23)).shape == (1, 3, 34, 46)


@pytest.mark.parametrize(
    ("change", "parameter", "allowed"),
    [
        (dict(scale=3), "scale", "2 or 4"),
        (dict(scale=2, upscale_kind="wild"), "upscale_kind", "subtle or creative"),
        (dict(scale=4, image=Image.new("RGB", (2000, 64))), "size", "to 4096"),
    ],
)
def test_bad_upscale_options_are_refused_naming_what_is_allowed(
    tiny_family, photo, change, parameter, allowed
):
    request = GenerationRequest(mode=Mode.UPSCALE, prompt="x", **{"image": photo, **change})
    with pytest.raises(InvalidInput) as refused:
        validate_request(request, tiny_family)
    assert refused.value.parameter == parameter and allowed in str(refused.value)


def test_steps_and_strength_are_checked_only_for_the_creative_pass(tiny_family, photo):
    """A subtle upscale runs no denoising step, so 3 steps at strength 0.3 refuse nothing."""
    subtle = GenerationRequest(
        mode=Mode.UPSCALE, prompt="x", image=photo, scale=2, steps=3, strength=0.3
    )
    assert validate_request(subtle, tiny_family).upscale_kind == "subtle"
    creative = dataclasses.replace(subtle, upscale_kind="creative")
    with pytest.raises(InvalidInput, match="runs no denoising step") as refused:
        validate_request(creative, tiny_family)
    assert refused.value.parameter == "strength"


def test_zoom_out_doubles_the_canvas_and_keeps_the_picture_in_the_middle(tiny_pipelines, photo):
    small = photo.resize((32, 32))
    request = validate_request(
        GenerationRequest(mode=Mode.OUTPAINT, prompt="shapes", image=small, outpaint="zoom-2"),
        tiny_pipelines.family,
    )
    (result,) = tiny_pipelines.run([request])
    (canvas,) = result.images
    assert canvas.size == (64, 64) and result.parameters["outpaint"] == "zoom-2"
    left, top, right, bottom = picture_box("zoom-2", 64, 64)
    band = feather_width("zoom-2", 64, 64)
    assert (left, top, right, bottom, band) == (16, 16, 48, 48, 4)
    core = _pixels(canvas)[top + band : bottom - band, left + band : right - band]
    assert np.array_equal(core, _pixels(small)[band:-band, band:-band])
    # The new area was painted, not left as the stretched edge the canvas started from.
    stretched = np.pad(np.asarray(small), ((16, 16), (16, 16), (0, 0)), mode="edge")
    border = np.ones((64, 64), bool)
    border[top:bottom, left:right] = False
    assert np.abs(_pixels(canvas)[border] - stretched[border]).mean() > 5


def test_a_pan_extends_one_side_and_an_unknown_one_is_refused(tiny_family, photo):
    small = photo.resize((32, 32))
    for outpaint, size in (("pan-left", (48, 32)), ("pan-down", (32, 48))):
        request = GenerationRequest(mode=Mode.OUTPAINT, prompt="x", image=small, outpaint=outpaint)
        validated = validate_request(request, tiny_family)
        assert (validated.width, validated.height) == size
        assert validated.image.size == (32, 32)
    with pytest.raises(InvalidInput, match=re.escape("zoom-1.5, zoom-2, pan-left")):
        validate_request(
            GenerationRequest(mode=Mode.OUTPAINT, prompt="x", image=small, outpaint="zoom-3"),
            tiny_family,
        )


def test_the_blend_fades_the_picture_in_over_the_feather_on_the_new_side_only():
    from generation.images.outpaint import outpaint_canvas

    picture = Image.new("RGB", (32, 32), (200, 40, 40))
    canvas, hard, blend = outpaint_canvas(picture, "pan-left", (48, 32))
    alpha = np.asarray(blend).astype(int)
    band = feather_width("pan-left", 48, 32)
    assert (band, picture_box("pan-left", 48, 32)) == (4, (16, 0, 48, 32))
    assert (alpha[:, :16] == 255).all()  # the new area: all generated
    ramp = alpha[:, 16 : 16 + band]
    assert (np.diff(ramp, axis=1) < 0).all() and (ramp > 0).all()  # falls across the band
    assert (alpha[:, 16 + band :] == 0).all()  # the rest, and the other three edges: kept
    # The pipeline repaints the new area and the band; the canvas starts from the edge colour.
    assert np.array_equal(np.asarray(hard) > 0, alpha > 0)
    assert np.asarray(canvas)[:, :16].reshape(-1, 3).tolist() == [[200, 40, 40]] * (32 * 16)


def test_upscale_jobs_of_two_users_share_one_batch_and_each_gets_its_own(tiny_pipelines, photo):
    pictures = [photo.resize((32, 32)), photo.rotate(90).resize((32, 32))]
    requests = [
        validate_request(
            GenerationRequest(
                mode=Mode.UPSCALE, prompt="x", image=p, scale=2, upscale_kind="subtle", seed=1
            ),
            tiny_pipelines.family,
        )
        for p in pictures
    ]
    assert requests[0].batch_key() == requests[1].batch_key()
    together = tiny_pipelines.run(requests)
    alone = [tiny_pipelines.run([request])[0] for request in requests]
    for batched, single in zip(together, alone, strict=True):
        assert np.array_equal(_pixels(batched.images[0]), _pixels(single.images[0]))
    assert not np.array_equal(_pixels(together[0].images[0]), _pixels(together[1].images[0]))
