"""Full-size random companions fit their base UNet: shapes checked by real forward calls on meta."""

from __future__ import annotations

import pytest
import torch
from diffusers import UNet2DConditionModel, UNetMotionModel

from generation.models.testing.random_models import COMPANION_MODELS, UNET_CONFIGS

# The meta device runs each module's real forward with shapes only: a full-size mismatch fails
# here exactly as on a GPU, in seconds and without allocating a byte of weights.
META = torch.device("meta")
TIMESTEP = 999  # a plain number: the model puts it on the sample's (meta) device


@pytest.fixture(scope="module")
def sd15():
    with META:
        return UNet2DConditionModel(**UNET_CONFIGS["sd15"]), dict(COMPANION_MODELS["sd15"]())


@pytest.fixture(scope="module")
def sdxl():
    with META:
        return UNet2DConditionModel(**UNET_CONFIGS["sdxl"]), dict(COMPANION_MODELS["sdxl"]())


def test_sd15_companions_are_the_released_shapes(sd15):
    unet, companions = sd15
    assert set(companions) == {
        "inpaint/unet",
        "controlnet-canny",
        "t2i-adapter-canny",
        "motion-adapter",
    }
    controlnet = companions["controlnet-canny"]
    # lllyasviel/control_v11p_sd15_canny: the base UNet's 4-channel conv_in, RGB conditioning.
    assert controlnet.conv_in.weight.shape == unet.conv_in.weight.shape == (320, 4, 3, 3)
    assert controlnet.controlnet_cond_embedding.conv_in.in_channels == 3
    assert controlnet.config.block_out_channels == unet.config.block_out_channels
    assert controlnet.config.cross_attention_dim == 768
    assert companions["inpaint/unet"].conv_in.in_channels == 9
    adapter = companions["t2i-adapter-canny"]
    # TencentARC/t2iadapter_canny_sd15v2: one edge channel through an 8x pixel unshuffle.
    assert adapter.config.in_channels == 1 and adapter.config.adapter_type == "full_adapter"
    assert adapter.adapter.conv_in.in_channels == 1 * 8**2
    assert companions["motion-adapter"].config.block_out_channels == (320, 640, 1280, 1280)


def test_sd15_controlnet_residuals_fit_the_base_unet(sd15):
    unet, companions = sd15
    with META:
        latents, text = torch.randn(2, 4, 64, 64), torch.randn(2, 77, 768)
        down, mid = companions["controlnet-canny"](
            latents, TIMESTEP, text, controlnet_cond=torch.randn(2, 3, 512, 512), return_dict=False
        )
        out = unet(
            latents,
            TIMESTEP,
            text,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
        ).sample
    assert out.shape == latents.shape


def test_sd15_adapter_inpaint_and_motion_fit_the_base_unet(sd15):
    unet, companions = sd15
    with META:
        latents, text = torch.randn(1, 4, 64, 64), torch.randn(1, 77, 768)
        features = companions["t2i-adapter-canny"](torch.randn(1, 1, 512, 512))
        out = unet(latents, TIMESTEP, text, down_intrablock_additional_residuals=list(features))
        assert out.sample.shape == latents.shape
        # Latents, masked-image latents and the mask, concatenated: 4 + 4 + 1 channels.
        inpainted = companions["inpaint/unet"](torch.randn(1, 9, 64, 64), TIMESTEP, text).sample
        assert inpainted.shape == latents.shape
        motion = UNetMotionModel.from_unet2d(unet, companions["motion-adapter"])
        frames = torch.randn(1, 4, 16, 64, 64)
        out = motion(frames, TIMESTEP, torch.randn(16, 77, 768)).sample
    assert out.shape == frames.shape


def test_sdxl_controlnet_and_adapter_fit_the_base_unet(sdxl):
    unet, companions = sdxl
    controlnet, adapter = companions["controlnet-canny"], companions["t2i-adapter-canny"]
    assert controlnet.conv_in.weight.shape == unet.conv_in.weight.shape == (320, 4, 3, 3)
    assert controlnet.config.addition_embed_type == "text_time"
    assert adapter.config.adapter_type == "full_adapter_xl"
    assert adapter.adapter.conv_in.in_channels == 1 * 16**2
    with META:
        latents, text = torch.randn(1, 4, 128, 128), torch.randn(1, 77, 2048)
        added = dict(text_embeds=torch.randn(1, 1280), time_ids=torch.randn(1, 6))
        down, mid = controlnet(
            latents,
            TIMESTEP,
            text,
            controlnet_cond=torch.randn(1, 3, 1024, 1024),
            added_cond_kwargs=added,
            return_dict=False,
        )
        controlled = unet(
            latents,
            TIMESTEP,
            text,
            added_cond_kwargs=added,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
        ).sample
        features = adapter(torch.randn(1, 1, 1024, 1024))
        adapted = unet(
            latents,
            TIMESTEP,
            text,
            added_cond_kwargs=added,
            down_intrablock_additional_residuals=list(features),
        ).sample
    assert controlled.shape == adapted.shape == latents.shape
