"""Fixtures for the generation tests: tiny families, their pipelines, test style LoRAs, images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from generation.families import ModelFamily, resolve_family
from generation.styles import StyleLibrary


def _write_styles(directory: Path, family: ModelFamily) -> StyleLibrary:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    from generation.tiny_models import save_random_lora

    cls = StableDiffusionPipeline if family.architecture == "sd" else StableDiffusionXLPipeline
    base = cls.from_pretrained(family.base)
    # "ink" carries text-encoder weights too, "neon" only UNet weights: both occur in the wild.
    save_random_lora(directory / "ink", unet=base.unet, text_encoder=base.text_encoder, seed=100)
    save_random_lora(directory / "neon", unet=base.unet, seed=200)
    (directory / "styles.toml").write_text(
        f"""
[styles.ink]
source = "ink/pytorch_lora_weights.safetensors"
default_weight = 0.8
trigger_words = ["ink drawing"]
architecture = "{family.architecture}"
description = "test style with text-encoder weights"

[styles.neon]
source = "neon"
weight_name = "pytorch_lora_weights.safetensors"
architecture = "{family.architecture}"
"""
    )
    return StyleLibrary.load(directory / "styles.toml")


@pytest.fixture(scope="session")
def tiny_family() -> ModelFamily:
    return resolve_family("tiny")


@pytest.fixture(scope="session")
def tiny_xl_family() -> ModelFamily:
    return resolve_family("tiny-xl")


@pytest.fixture(scope="session")
def tiny_styles(tiny_family, tmp_path_factory) -> StyleLibrary:
    return _write_styles(tmp_path_factory.mktemp("styles-tiny"), tiny_family)


@pytest.fixture(scope="session")
def tiny_xl_styles(tiny_xl_family, tmp_path_factory) -> StyleLibrary:
    return _write_styles(tmp_path_factory.mktemp("styles-tiny-xl"), tiny_xl_family)


@pytest.fixture(scope="session")
def tiny_pipelines(tiny_family, tiny_styles):
    from generation.pipelines import PipelineSet

    return PipelineSet(tiny_family, styles=tiny_styles)


@pytest.fixture(scope="session")
def tiny_xl_pipelines(tiny_xl_family, tiny_xl_styles):
    from generation.pipelines import PipelineSet

    return PipelineSet(tiny_xl_family, styles=tiny_xl_styles)


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """A 64×64 picture with shapes, so edges and masks have something to find."""
    rng = np.random.default_rng(7)
    image = Image.fromarray((rng.random((64, 64, 3)) * 80 + 60).astype("uint8"))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 12, 40, 50), fill=(230, 40, 40))
    draw.ellipse((30, 8, 58, 36), fill=(40, 200, 90))
    return image


@pytest.fixture(scope="session")
def centre_mask() -> Image.Image:
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    return mask
