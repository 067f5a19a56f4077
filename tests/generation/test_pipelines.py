"""Every LCM mode on the tiny SD1.5-shaped family through the real diffusers pipelines."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from generation.errors import GenerationCancelled
from generation.models.styles import StyleChoice
from generation.modes import Mode
from tests.generation.helpers import first_picture, make_request, max_diff, pixels, run

IMAGE_MODES = (Mode.TXT2IMG, Mode.IMG2IMG, Mode.INPAINT, Mode.CONTROLNET, Mode.T2I_ADAPTER)


@pytest.fixture
def mode_inputs(photo, centre_mask):
    return {"photo": photo, "mask": centre_mask}


@pytest.mark.parametrize("mode", IMAGE_MODES, ids=str)
def test_image_mode_output_size_and_determinism(tiny_pipelines, mode, mode_inputs):
    request = make_request(tiny_pipelines, mode, **mode_inputs, width=64, height=48)
    first = run(tiny_pipelines, request)
    again = run(tiny_pipelines, request)
    other = run(tiny_pipelines, make_request(tiny_pipelines, mode, **mode_inputs, seed=2))

    assert [im.size for im in first.images] == [(64, 48)]
    assert first.seeds == (1,)
    assert max_diff(first.images[0], again.images[0]) == 0, "same seed must give the same image"
    assert max_diff(first.images[0].resize((64, 64)), other.images[0]) > 0


def test_animate_returns_frames_of_the_requested_size(tiny_pipelines):
    request = make_request(tiny_pipelines, Mode.ANIMATE, width=64, height=64, frames=8)
    result = run(tiny_pipelines, request)

    assert result.images == ()
    assert len(result.animations) == 1
    frames = result.animations[0]
    assert len(frames) == 8
    assert {frame.size for frame in frames} == {(64, 64)}
    assert max_diff(frames[0], frames[-1]) > 0, "an animation whose frames never change is a still"
    again = run(tiny_pipelines, request)
    assert all(max_diff(a, b) == 0 for a, b in zip(frames, again.animations[0], strict=True))


@pytest.mark.parametrize("mode", [*IMAGE_MODES, Mode.ANIMATE], ids=str)
def test_batch_image_equals_single_run_with_its_seed(tiny_pipelines, mode, mode_inputs):
    two = make_request(tiny_pipelines, mode, **mode_inputs, seed=10, count=2)
    one = make_request(tiny_pipelines, mode, **mode_inputs, seed=40)
    batch = tiny_pipelines.run([two, one])
    singles = [
        run(tiny_pipelines, make_request(tiny_pipelines, mode, **mode_inputs, seed=seed))
        for seed in (10, 11, 40)
    ]

    assert [r.seeds for r in batch] == [(10, 11), (40,)]
    batched = [*_pictures(batch[0]), *_pictures(batch[1])]
    single = [picture for r in singles for picture in _pictures(r)]
    per_seed = 8 if mode is Mode.ANIMATE else 1
    assert len(batched) == len(single) == 3 * per_seed
    for got, want in zip(batched, single, strict=True):
        assert max_diff(got, want) <= 1


def _pictures(result):
    return list(result.images) or [frame for frames in result.animations for frame in frames]


def test_progress_reports_every_step_and_img2img_runs_steps_times_strength(tiny_pipelines, photo):
    seen: list[tuple[int, int]] = []
    run(tiny_pipelines, make_request(tiny_pipelines, Mode.TXT2IMG, steps=6), on_step=_record(seen))
    assert seen == [(k, 6) for k in range(1, 7)]

    seen.clear()
    request = make_request(tiny_pipelines, Mode.IMG2IMG, photo=photo, steps=8, strength=0.5)
    run(tiny_pipelines, request, on_step=_record(seen))
    assert seen == [(k, 4) for k in range(1, 5)]

    seen.clear()
    request = make_request(tiny_pipelines, Mode.T2I_ADAPTER, photo=photo, steps=3)
    run(tiny_pipelines, request, on_step=_record(seen))
    assert seen == [(1, 3), (2, 3), (3, 3)], "the older callback API of T2I-Adapter is hooked too"


def _record(seen):
    def on_step(done, total):
        seen.append((done, total))

    return on_step


@pytest.mark.parametrize("mode", [Mode.TXT2IMG, Mode.T2I_ADAPTER, Mode.ANIMATE], ids=str)
def test_step_callback_cancels_and_the_set_keeps_working(tiny_pipelines, mode, photo):
    request = make_request(tiny_pipelines, mode, photo=photo, steps=4)
    seen = []

    def stop_after_two(done, total):
        seen.append(done)
        return done < 2

    with pytest.raises(GenerationCancelled):
        run(tiny_pipelines, request, on_step=stop_after_two)
    assert seen == [1, 2]
    assert first_picture(run(tiny_pipelines, request)).size == (64, 64)


def test_style_weight_and_set_change_the_image_and_switching_back_restores_it(tiny_pipelines):
    plain = make_request(tiny_pipelines, Mode.TXT2IMG)
    light = make_request(tiny_pipelines, Mode.TXT2IMG, styles=(StyleChoice("neon", 0.3),))
    strong = make_request(tiny_pipelines, Mode.TXT2IMG, styles=(StyleChoice("neon", 1.2),))
    both = make_request(
        tiny_pipelines, Mode.TXT2IMG, styles=(StyleChoice("neon", 1.2), StyleChoice("ink", 0.8))
    )
    images = {
        name: first_picture(run(tiny_pipelines, request))
        for name, request in [
            ("plain", plain),
            ("light", light),
            ("strong", strong),
            ("both", both),
        ]
    }
    assert max_diff(images["plain"], images["light"]) > 0
    assert max_diff(images["light"], images["strong"]) > 0, "the weight must matter"
    assert max_diff(images["strong"], images["both"]) > 0, "the adapter set must matter"
    back = first_picture(run(tiny_pipelines, plain))
    assert max_diff(images["plain"], back) == 0, "switching adapters must leave no residue"


@pytest.mark.parametrize("mode", [Mode.INPAINT, Mode.ANIMATE, Mode.T2I_ADAPTER], ids=str)
def test_styles_reach_pipelines_with_their_own_unet_or_no_lora_mixin(tiny_pipelines, mode, photo):
    mask = Image.new("L", (64, 64), 255)
    plain = make_request(tiny_pipelines, mode, photo=photo, mask=mask)
    styled = make_request(
        tiny_pipelines, mode, photo=photo, mask=mask, styles=(StyleChoice("neon", 1.0),)
    )
    assert (
        max_diff(
            first_picture(run(tiny_pipelines, plain)), first_picture(run(tiny_pipelines, styled))
        )
        > 0
    )


def test_style_trigger_words_are_prepended(tiny_pipelines):
    request = make_request(tiny_pipelines, Mode.TXT2IMG, styles=(StyleChoice("ink", 0.5),))
    assert tiny_pipelines.full_prompt(request) == "ink drawing, a red box beside a green ball"
    assert run(tiny_pipelines, request).parameters["styles"] == {"ink": 0.5}


def test_strength_changes_img2img(tiny_pipelines, photo):
    low = run(tiny_pipelines, make_request(tiny_pipelines, Mode.IMG2IMG, photo=photo, strength=0.5))
    high = run(
        tiny_pipelines, make_request(tiny_pipelines, Mode.IMG2IMG, photo=photo, strength=1.0)
    )
    assert max_diff(low.images[0], high.images[0]) > 0


def test_mask_decides_what_inpainting_repaints(tiny_pipelines, photo, centre_mask):
    left = Image.new("L", (64, 64), 0)
    left.paste(255, (0, 0, 24, 64))
    centre = run(
        tiny_pipelines, make_request(tiny_pipelines, Mode.INPAINT, photo=photo, mask=centre_mask)
    )
    side = run(tiny_pipelines, make_request(tiny_pipelines, Mode.INPAINT, photo=photo, mask=left))
    assert max_diff(centre.images[0], side.images[0]) > 0


@pytest.mark.parametrize("mode", [Mode.CONTROLNET, Mode.T2I_ADAPTER], ids=str)
def test_control_image_and_thresholds_steer_the_output(tiny_pipelines, mode, photo):
    flipped = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    base = run(tiny_pipelines, make_request(tiny_pipelines, mode, photo=photo))
    other = run(tiny_pipelines, make_request(tiny_pipelines, mode, photo=flipped))
    strict = run(
        tiny_pipelines,
        make_request(tiny_pipelines, mode, photo=photo, canny_low=250, canny_high=255),
    )
    unscaled = run(
        tiny_pipelines, make_request(tiny_pipelines, mode, photo=photo, conditioning_scale=0.0)
    )

    edges = np.asarray(base.control_image)
    assert base.control_image.size == (64, 64)
    assert set(np.unique(edges)) <= {0, 255} and edges.max() == 255, "a real edge map"
    assert max_diff(base.control_image, strict.control_image) > 0
    assert max_diff(base.images[0], other.images[0]) > 0, "the control image must matter"
    assert max_diff(base.images[0], unscaled.images[0]) > 0, "the conditioning scale must matter"


def test_motion_lora_changes_the_animation(tiny_pipelines):
    plain = run(tiny_pipelines, make_request(tiny_pipelines, Mode.ANIMATE))
    zoom = run(tiny_pipelines, make_request(tiny_pipelines, Mode.ANIMATE, motion="zoom-in"))
    assert max_diff(plain.animations[0][-1], zoom.animations[0][-1]) > 0
    assert zoom.parameters["motion"] == "zoom-in"


def test_safety_check_reports_flags_and_never_blacks_out(tiny_pipelines):
    request = make_request(tiny_pipelines, Mode.TXT2IMG, count=2, safety_check=True)
    unchecked = run(tiny_pipelines, make_request(tiny_pipelines, Mode.TXT2IMG, count=2))
    result = run(tiny_pipelines, request)
    assert result.nsfw is not None and len(result.nsfw) == 2
    assert unchecked.nsfw is None

    # Make the real checker flag everything: the image must still come back untouched.
    checker = tiny_pipelines.safety_checker().model
    saved = checker.concept_embeds_weights.data.clone()
    checker.concept_embeds_weights.data.fill_(-10.0)
    try:
        flagged = run(tiny_pipelines, request)
    finally:
        checker.concept_embeds_weights.data.copy_(saved)
    assert flagged.nsfw == (True, True)
    for got, want in zip(flagged.images, unchecked.images, strict=True):
        assert max_diff(got, want) == 0 and pixels(got).max() > 0


def test_long_prompt_is_reported_with_the_dropped_words(tiny_pipelines):
    words = "castle " * 74 + "under a purple zebra moon"  # one token each: 79 in all
    result = run(tiny_pipelines, make_request(tiny_pipelines, Mode.TXT2IMG, prompt=words))
    assert len(result.warnings) == 1
    assert "77 CLIP tokens" in result.warnings[0]
    assert "'a purple zebra moon'" in result.warnings[0], "75 fit; the last four are dropped"
    short = run(tiny_pipelines, make_request(tiny_pipelines, Mode.TXT2IMG, prompt="a cat"))
    assert short.warnings == ()


def test_negative_prompt_is_reported_as_ignored_without_cfg(tiny_pipelines):
    request = make_request(tiny_pipelines, Mode.TXT2IMG, negative_prompt="blurry", guidance=1.0)
    assert any("negative prompt ignored" in w for w in run(tiny_pipelines, request).warnings)
    cfg = make_request(tiny_pipelines, Mode.TXT2IMG, negative_prompt="blurry", guidance=2.0)
    assert run(tiny_pipelines, cfg).warnings == ()


def test_incompatible_requests_are_refused_as_one_batch(tiny_pipelines):
    a = make_request(tiny_pipelines, Mode.TXT2IMG, steps=4)
    b = make_request(tiny_pipelines, Mode.TXT2IMG, steps=2)
    with pytest.raises(ValueError, match="batch_key"):
        tiny_pipelines.run([a, b])


def test_mode_pipelines_share_the_base_modules(tiny_pipelines):
    base = tiny_pipelines.pipeline(Mode.TXT2IMG)
    for mode in (Mode.IMG2IMG, Mode.CONTROLNET, Mode.T2I_ADAPTER):
        pipe = tiny_pipelines.pipeline(mode)
        assert pipe.unet is base.unet and pipe.vae is base.vae
        assert pipe.text_encoder is base.text_encoder
    inpaint = tiny_pipelines.pipeline(Mode.INPAINT)
    assert inpaint.unet.config.in_channels == 9, "the family's inpainting UNet is used"
    assert inpaint.vae is base.vae and inpaint.text_encoder is base.text_encoder
    animate = tiny_pipelines.pipeline(Mode.ANIMATE)
    assert animate.vae is base.vae and animate.text_encoder is base.text_encoder
