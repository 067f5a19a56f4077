"""The model-family registry: real hub ids, companions, overrides, and the tiny builds."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from generation.errors import ModelUnavailable
from generation.models.families import HUB_FAMILIES, family_names, resolve_family
from generation.modes import Mode, supported_modes


def test_every_product_family_is_registered_with_real_hub_ids():
    assert set(family_names()) == {
        "sd15",
        "sdxl",
        "ssd-1b",
        "dreamshaper-lcm",
        "lcm-sdxl",
        "lcm-ssd-1b",
        "tiny",
        "tiny-xl",
    }
    sd15 = HUB_FAMILIES["sd15"]
    assert sd15.base == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert sd15.lcm_lora.source == "latent-consistency/lcm-lora-sdv1-5"
    assert sd15.inpaint_unet == "stable-diffusion-v1-5/stable-diffusion-inpainting"
    assert sd15.controlnet_canny == "lllyasviel/control_v11p_sd15_canny"
    assert sd15.t2i_adapter_canny == "TencentARC/t2iadapter_canny_sd15v2"
    assert sd15.motion_adapter == "guoyww/animatediff-motion-adapter-v1-5-2"
    assert sd15.motion_loras["zoom-in"].source == "guoyww/animatediff-motion-lora-zoom-in"
    assert HUB_FAMILIES["sdxl"].lcm_lora.source == "latent-consistency/lcm-lora-sdxl"
    assert HUB_FAMILIES["ssd-1b"].lcm_lora.source == "latent-consistency/lcm-lora-ssd-1b"
    assert HUB_FAMILIES["dreamshaper-lcm"].is_full_lcm
    assert set(supported_modes(HUB_FAMILIES["sd15"])) == set(Mode)
    # The guide's full-LCM SDXL and SSD-1B: the distilled UNet repo on the base model.
    lcm_sdxl, lcm_ssd = HUB_FAMILIES["lcm-sdxl"], HUB_FAMILIES["lcm-ssd-1b"]
    assert (lcm_sdxl.base, lcm_sdxl.unet) == (
        "stabilityai/stable-diffusion-xl-base-1.0",
        "latent-consistency/lcm-sdxl",
    )
    assert (lcm_ssd.base, lcm_ssd.unet) == ("segmind/SSD-1B", "latent-consistency/lcm-ssd-1b")
    assert lcm_sdxl.is_full_lcm and lcm_ssd.is_full_lcm
    assert Mode.ANIMATE not in supported_modes(lcm_sdxl)  # no SDXL motion adapter in the registry
    assert Mode.CONTROLNET not in supported_modes(
        lcm_ssd
    )  # SDXL's residuals do not fit SSD-1B's blocks
    # Published only as a pickle file: read through a safetensors mirror, nothing else.
    assert sd15.pickle_only == {"TencentARC/t2iadapter_canny_sd15v2"}
    assert HUB_FAMILIES["sdxl"].pickle_only == frozenset()


def test_overrides_point_components_at_local_paths(tmp_path):
    family = resolve_family("sd15", {"base": str(tmp_path), "lcm_lora": str(tmp_path / "l")})
    assert family.base == str(tmp_path)
    assert family.lcm_lora.source == str(tmp_path / "l")
    with pytest.raises(ModelUnavailable, match="cannot override vae"):
        resolve_family("sd15", {"vae": "x"})


def test_unknown_family_lists_the_choices():
    with pytest.raises(ModelUnavailable, match="choose one of sd15, sdxl"):
        resolve_family("sd3")


def test_tiny_families_live_on_disk_in_hub_layout(tiny_family, tiny_xl_family):
    for family in (tiny_family, tiny_xl_family):
        assert (Path(family.base) / "model_index.json").is_file()
        assert (Path(family.lcm_lora.source) / "pytorch_lora_weights.safetensors").is_file()
        assert (Path(family.t2i_adapter_canny) / "config.json").is_file()
    assert (Path(tiny_family.inpaint_unet) / "unet" / "config.json").is_file()
    assert set(supported_modes(tiny_family)) == set(Mode)
    assert Mode.ANIMATE not in supported_modes(tiny_xl_family)


def test_tiny_tokenizer_is_the_real_sd_tokenizer(tiny_family):
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(Path(tiny_family.base) / "tokenizer")
    assert len(tokenizer) == 49408
    assert tokenizer("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]


def _digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.slow
def test_tiny_builds_are_deterministic(tmp_path, monkeypatch, tiny_family):
    from generation.models.testing.tiny_models import ensure_tiny_family

    monkeypatch.setenv("LCM_TINY_CACHE", str(tmp_path))
    rebuilt = ensure_tiny_family("tiny")
    assert rebuilt.parent == tmp_path
    cached = Path(tiny_family.base).parent
    assert _digests(rebuilt) == _digests(cached)
    assert ensure_tiny_family("tiny") == rebuilt, "a second call reuses the build"
