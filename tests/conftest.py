"""Shared fixtures: the offline tiny families and their pipelines, loaded once per session."""

from __future__ import annotations

import os

# The tiny families never touch a hub; make sure nothing in a test tries to either.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
# `make test` runs one pytest worker per core (xdist): one torch thread each, and in the bot and
# worker processes the tests start, or the workers' thread pools fight over the same cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import pytest

from generation.models.families import ModelFamily, resolve_family
from generation.models.styles import StyleLibrary


def _write_styles(directory: Path, family: ModelFamily) -> StyleLibrary:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    from generation.models.testing.tiny_models import save_random_lora

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
    from generation.modes.pipelines import PipelineSet

    return PipelineSet(tiny_family, styles=tiny_styles)


@pytest.fixture(scope="session")
def tiny_xl_pipelines(tiny_xl_family, tiny_xl_styles):
    from generation.modes.pipelines import PipelineSet

    return PipelineSet(tiny_xl_family, styles=tiny_xl_styles)
