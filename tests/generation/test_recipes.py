"""The guide's recipes as defaults, guidance per pipeline class, masks, and pickle-only weights."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from generation.errors import InvalidInput, ModelUnavailable
from generation.models.families import HUB_FAMILIES
from generation.modes import MODES, Mode
from generation.modes.requests import GenerationRequest, validate_request
from tests.generation.helpers import make_request, max_diff, pixels, run

# (family, mode) -> the values the diffusers LCM guide uses (docs/using-diffusers/
# inference_with_lcm.md); "frames" is ours (16, the motion adapter's training length).
GUIDE = {
    ("sd15", Mode.TXT2IMG): dict(steps=4, guidance=1.0),
    ("sd15", Mode.IMG2IMG): dict(steps=4, guidance=1.0, strength=0.6),
    ("sd15", Mode.INPAINT): dict(steps=4, guidance=4.0, strength=1.0),
    ("sd15", Mode.CONTROLNET): dict(steps=4, guidance=1.5, conditioning_scale=0.8),
    ("sdxl", Mode.T2I_ADAPTER): dict(steps=4, guidance=1.5, conditioning_scale=0.8),
    ("sd15", Mode.ANIMATE): dict(steps=5, guidance=1.25, frames=16),
    ("lcm-sdxl", Mode.TXT2IMG): dict(steps=4, guidance=8.0),
    ("dreamshaper-lcm", Mode.IMG2IMG): dict(steps=4, guidance=7.5, strength=0.5),
    ("dreamshaper-lcm", Mode.CONTROLNET): dict(steps=4, guidance=7.5, conditioning_scale=1.0),
    ("lcm-sdxl", Mode.T2I_ADAPTER): dict(steps=4, guidance=5.0, conditioning_scale=0.8),
}


@pytest.mark.parametrize(("family", "mode"), list(GUIDE), ids=lambda v: str(v))
def test_unset_options_take_the_guides_recipe(family, mode, photo, centre_mask):
    spec = HUB_FAMILIES[family]
    size = spec.default_size
    request = GenerationRequest(
        mode=mode,
        prompt="a castle",
        image=photo.resize((size, size)) if mode.needs_image else None,
        mask=centre_mask.resize((size, size)) if mode is Mode.INPAINT else None,
    )
    resolved = validate_request(request, spec)
    assert {k: getattr(resolved, k) for k in GUIDE[family, mode]} == GUIDE[family, mode]
    chosen = validate_request(dataclasses.replace(request, steps=2, guidance=1.0), spec)
    assert (chosen.steps, chosen.guidance) == (2, 1.0), "a user's choice beats the recipe"


def test_animation_adapter_weights_follow_the_guide():
    recipe = MODES[Mode.ANIMATE].recipe(HUB_FAMILIES["sd15"])
    assert (recipe.lcm_lora_weight, recipe.motion_weight) == (0.55, 1.2)


def test_inpainting_repaints_inside_the_mask_and_keeps_the_rest(tiny_pipelines, photo, centre_mask):
    inside = np.asarray(centre_mask) > 0
    # Away from the feathered edge (1 px at 64²) the repaint is the model's alone.
    core = np.zeros_like(inside)
    core[20:44, 20:44] = True
    for mask, kept, repainted in (
        (centre_mask, ~inside, core),
        (Image.eval(centre_mask, lambda v: 255 - v), core, ~inside & _ring(4)),
    ):
        result = run(
            tiny_pipelines, make_request(tiny_pipelines, Mode.INPAINT, photo=photo, mask=mask)
        )
        delta = np.abs(pixels(result.images[0]) - pixels(photo)).max(axis=2)
        assert delta[kept].max() <= 1, "pixels outside the mask are the user's own"
        assert delta[repainted].mean() > 10, "pixels inside the mask are repainted"


def _ring(margin: int) -> np.ndarray:
    """Pixels at least ``margin`` from the 16–48 square's edge, outside it."""
    keep = np.ones((64, 64), bool)
    keep[16 - margin : 48 + margin, 16 - margin : 48 + margin] = False
    return keep


def test_sdxl_t2i_adapter_sizes_snap_to_16_everywhere_else_to_8(tiny_xl_family, photo):
    for (width, height), expected in (((64, 40), (64, 48)), ((40, 64), (48, 64))):
        upload = photo.resize((width, height))
        t2i = GenerationRequest(mode=Mode.T2I_ADAPTER, prompt="x", image=upload)
        canny = GenerationRequest(mode=Mode.CONTROLNET, prompt="x", image=upload)
        resolved = validate_request(t2i, tiny_xl_family)
        assert (resolved.width, resolved.height) == expected
        assert validate_request(canny, tiny_xl_family).width % 8 == 0
    with pytest.raises(InvalidInput, match="multiple of 16"):
        validate_request(
            GenerationRequest(mode=Mode.T2I_ADAPTER, prompt="x", image=photo, width=56, height=64),
            tiny_xl_family,
        )


@pytest.fixture(scope="module")
def full_lcm_pipelines(tiny_family, tmp_path_factory):
    """The tiny family with an LCM-distilled UNet (guidance embedding) and no LCM-LoRA."""
    from diffusers import UNet2DConditionModel

    from generation.modes.pipelines import PipelineSet

    config = dict(UNet2DConditionModel.load_config(tiny_family.base, subfolder="unet"))
    config["time_cond_proj_dim"] = 256
    torch.manual_seed(5)
    folder = tmp_path_factory.mktemp("lcm-unet")
    UNet2DConditionModel.from_config(config).save_pretrained(folder)
    family = dataclasses.replace(tiny_family, unet=str(folder), lcm_lora=None)
    return PipelineSet(family)


def test_full_lcm_animation_uses_the_guidance_embedding_not_cfg(full_lcm_pipelines):
    pipes = full_lcm_pipelines
    calls = []
    unet = pipes.pipeline(Mode.ANIMATE).unet

    def record(_module, args, kwargs):
        sample = args[0] if args else kwargs["sample"]
        calls.append((sample.shape[0], kwargs.get("timestep_cond")))

    handle = unet.register_forward_pre_hook(record, with_kwargs=True, prepend=False)
    try:
        high = run(pipes, make_request(pipes, Mode.ANIMATE, guidance=8.0, steps=2))
        low = run(pipes, make_request(pipes, Mode.ANIMATE, guidance=2.0, steps=2))
    finally:
        handle.remove()
    assert len(calls) == 4, "one UNet pass per step: no classifier-free guidance"
    assert all(batch == 1 for batch, _ in calls), "the batch is not doubled for CFG"
    assert all(cond is not None and cond.shape == (1, 256) for _, cond in calls)
    assert max_diff(high.animations[0][0], low.animations[0][0]) > 0, "guidance must matter"
    assert high.parameters["guidance"] == 8.0


def test_full_lcm_recipes_apply_to_a_distilled_unet(full_lcm_pipelines):
    resolved = make_request(full_lcm_pipelines, Mode.TXT2IMG, steps=None)
    assert (resolved.steps, resolved.guidance) == (4, 8.0)


def test_animation_runs_the_lcm_lora_at_055_and_the_motion_lora_at_12(tiny_pipelines):
    run(tiny_pipelines, make_request(tiny_pipelines, Mode.ANIMATE, motion="zoom-in", steps=1))
    unet = tiny_pipelines.pipeline(Mode.ANIMATE).unet
    seen = {}
    for module in unet.modules():
        scaling = getattr(module, "scaling", None)
        if isinstance(scaling, dict):
            for name in ("lcm", "motion-zoom-in"):
                if name in scaling and name in module.active_adapters:
                    seen[name] = scaling[name] / (module.lora_alpha[name] / module.r[name])
    assert seen == {"lcm": pytest.approx(0.55), "motion-zoom-in": pytest.approx(1.2)}


def test_fused_animation_holds_its_own_lcm_lora_weight(tiny_family, tiny_pipelines):
    """On GPUs the LCM-LoRA is merged: the motion UNet's own copy is merged at 0.55, not 1."""
    from generation.modes.pipelines import PipelineSet

    fused = PipelineSet(tiny_family, fuse_lcm_lora=True)
    request = make_request(tiny_pipelines, Mode.ANIMATE, steps=2)
    merged = run(fused, request)
    unmerged = run(tiny_pipelines, request)
    for a, b in zip(merged.animations[0], unmerged.animations[0], strict=True):
        assert max_diff(a, b) <= 2


def _pickle_only_copy(source: str, folder) -> str:
    """The tiny T2I-Adapter as the SD1.5 canny adapter's hub repo has it: a pickle file only."""
    from safetensors.torch import load_file

    shutil.copyfile(f"{source}/config.json", folder / "config.json")
    state = load_file(f"{source}/diffusion_pytorch_model.safetensors")
    torch.save(state, folder / ("diffusion_pytorch_model." + "bin"))
    return str(folder)


@pytest.fixture
def mirror_home(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HOME", str(tmp_path / "hf-home"))
    return tmp_path / "hf-home"


def test_pickle_only_adapter_loads_through_a_safetensors_mirror(
    tiny_family, photo, tmp_path, mirror_home
):
    from generation.modes.pipelines import PipelineSet

    (tmp_path / "t2i").mkdir()
    adapter = _pickle_only_copy(tiny_family.t2i_adapter_canny, tmp_path / "t2i")
    strict = dataclasses.replace(tiny_family, t2i_adapter_canny=adapter)
    with pytest.raises(ModelUnavailable, match="T2IAdapter"):
        PipelineSet(strict).pipeline(Mode.T2I_ADAPTER)  # pickle is never loaded unless declared

    family = dataclasses.replace(strict, pickle_only=frozenset({adapter}))
    pipes = PipelineSet(family)
    result = run(pipes, make_request(pipes, Mode.T2I_ADAPTER, photo=photo))
    reference = PipelineSet(tiny_family)
    expected = run(reference, make_request(reference, Mode.T2I_ADAPTER, photo=photo))
    assert max_diff(result.images[0], expected.images[0]) <= 1, "the same weights"
    assert list(mirror_home.rglob("*.safetensors")), "converted once into a mirror"


class _Payload:
    """A pickle that would create a file if it were ever unpickled freely."""

    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickle_that_runs_code_is_refused_not_run(tiny_family, tmp_path, mirror_home):
    from generation.modes.pipelines import PipelineSet

    folder = tmp_path / "evil"
    folder.mkdir()
    shutil.copyfile(f"{tiny_family.t2i_adapter_canny}/config.json", folder / "config.json")
    marker = tmp_path / "was-run"
    torch.save({"weight": _Payload(marker)}, folder / ("diffusion_pytorch_model." + "bin"))
    family = dataclasses.replace(
        tiny_family, t2i_adapter_canny=str(folder), pickle_only=frozenset({str(folder)})
    )
    with pytest.raises(ModelUnavailable, match="more than plain tensors"):
        PipelineSet(family).pipeline(Mode.T2I_ADAPTER)
    assert not marker.exists()


README_ROWS = {
    "text → image": Mode.TXT2IMG,
    "image → image": Mode.IMG2IMG,
    "inpaint": Mode.INPAINT,
    "ControlNet canny": Mode.CONTROLNET,
    "T2I-Adapter canny": Mode.T2I_ADAPTER,
    "animate": Mode.ANIMATE,
    "upscale, creative": Mode.UPSCALE,
    "outpaint": Mode.OUTPAINT,
}


def test_the_readme_table_states_the_recipes_in_the_code():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    rows = {}
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells and cells[0] in README_ROWS and len(cells) == 5:
            rows[README_ROWS[cells[0]]] = (cells[1], cells[3])
    assert set(rows) == set(Mode)
    for mode, (lora_text, full_text) in rows.items():
        for text, family in ((lora_text, "sd15"), (full_text, "dreamshaper-lcm")):
            recipe = MODES[mode].recipe(HUB_FAMILIES[family])
            assert text.startswith(f"{recipe.steps} steps, guidance {recipe.guidance}"), mode
            for name, label in (("strength", "strength"), ("conditioning_scale", "scale")):
                if getattr(recipe, name) is not None:
                    assert f"{label} {getattr(recipe, name)}" in text, (mode, name)
