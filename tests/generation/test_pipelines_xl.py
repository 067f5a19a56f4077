"""The SDXL-shaped tiny family through the SDXL pipelines (two text encoders, time ids)."""

from __future__ import annotations

import pytest

from generation.models.styles import StyleChoice
from generation.modes import Mode, supports
from tests.generation.helpers import first_picture, make_request, max_diff, run

XL_MODES = (Mode.TXT2IMG, Mode.IMG2IMG, Mode.INPAINT, Mode.CONTROLNET, Mode.T2I_ADAPTER)


def test_tiny_xl_is_sdxl_shaped(tiny_xl_pipelines):
    base = tiny_xl_pipelines.pipeline(Mode.TXT2IMG)
    assert type(base).__name__ == "StableDiffusionXLPipeline"
    assert base.text_encoder_2 is not None
    assert base.unet.config.addition_embed_type == "text_time"
    assert supports(tiny_xl_pipelines.family, Mode.ANIMATE) is False


@pytest.mark.parametrize("mode", XL_MODES, ids=str)
def test_xl_modes_produce_sized_seeded_images(tiny_xl_pipelines, mode, photo, centre_mask):
    request = make_request(
        tiny_xl_pipelines, mode, photo=photo, mask=centre_mask, width=64, height=96
    )
    result = run(tiny_xl_pipelines, request)
    again = run(tiny_xl_pipelines, request)
    other = run(
        tiny_xl_pipelines,
        make_request(
            tiny_xl_pipelines, mode, photo=photo, mask=centre_mask, width=64, height=96, seed=9
        ),
    )
    assert type(tiny_xl_pipelines.pipeline(mode)).__name__.startswith("StableDiffusionXL")
    assert [image.size for image in result.images] == [(64, 96)]
    assert max_diff(result.images[0], again.images[0]) == 0
    assert max_diff(result.images[0], other.images[0]) > 0


@pytest.mark.parametrize("mode", [Mode.TXT2IMG, Mode.IMG2IMG, Mode.T2I_ADAPTER], ids=str)
def test_xl_batch_equals_single(tiny_xl_pipelines, mode, photo):
    batch = tiny_xl_pipelines.run(
        [
            make_request(tiny_xl_pipelines, mode, photo=photo, seed=3, count=2),
            make_request(tiny_xl_pipelines, mode, photo=photo, seed=30),
        ]
    )
    batched = [*batch[0].images, *batch[1].images]
    for image, seed in zip(batched, (3, 4, 30), strict=True):
        single = run(
            tiny_xl_pipelines, make_request(tiny_xl_pipelines, mode, photo=photo, seed=seed)
        )
        assert max_diff(image, single.images[0]) <= 1


def test_xl_t2i_adapter_follows_the_control_image_and_styles(tiny_xl_pipelines, photo):
    from PIL import Image

    flipped = photo.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    base = run(tiny_xl_pipelines, make_request(tiny_xl_pipelines, Mode.T2I_ADAPTER, photo=photo))
    other = run(tiny_xl_pipelines, make_request(tiny_xl_pipelines, Mode.T2I_ADAPTER, photo=flipped))
    styled = run(
        tiny_xl_pipelines,
        make_request(
            tiny_xl_pipelines, Mode.T2I_ADAPTER, photo=photo, styles=(StyleChoice("ink", 1.0),)
        ),
    )
    assert max_diff(base.images[0], other.images[0]) > 0
    assert max_diff(base.images[0], styled.images[0]) > 0
    assert first_picture(base).size == base.control_image.size
