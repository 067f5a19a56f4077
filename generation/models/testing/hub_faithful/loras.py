"""LoRA files in the key styles the real repositories publish: kohya LCM-LoRAs, motion LoRAs."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from generation.models.testing.hub_faithful.components import build_model, save_tensors
from generation.models.testing.hub_faithful.manifest import component_of

# Random A and B at full strength swamp a tiny model; B is scaled so a LoRA is a nudge.
_UP_SCALE = 0.3


def write_kohya_lora(path: Path, component: dict) -> None:
    """An LCM-LoRA as the LCM training script saved it: kohya keys with one alpha per module.

    The script converted peft's state with get_module_kohya_state_dict: ``base_model.model`` ->
    ``lora_unet``, lora_A/lora_B -> lora_down/lora_up, dots -> underscores except the last two.
    """
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model

    unet = build_model(component_of(component["fits"], "diffusers"))
    rank = component["rank"]
    config = LoraConfig(
        r=rank,
        lora_alpha=rank,
        target_modules=component["targets"],
        init_lora_weights=False,  # peft's default init (B = 0) would make a LoRA that does nothing
    )
    inject_adapter_in_model(config, unet)
    tensors = {}
    for key, weight in get_peft_model_state_dict(unet).items():
        module, _, which = key.rpartition(".lora_")
        name = "lora_unet_" + module.replace(".", "_")
        if which.startswith("A"):
            tensors[f"{name}.lora_down.weight"] = weight.contiguous()
            tensors[f"{name}.alpha"] = torch.tensor(float(rank))
        else:
            tensors[f"{name}.lora_up.weight"] = (weight * _UP_SCALE).contiguous()
    save_tensors(tensors, path, "safetensors")


_MOTION_ATTENTION = re.compile(r"motion_modules\.\d+\.transformer_blocks\.\d+\.attn[12]$")
# Old diffusers attention-processor LoRA names, as AnimateDiff's motion LoRAs were trained.
_PROCESSOR_NAMES = {
    "to_q": "to_q_lora",
    "to_k": "to_k_lora",
    "to_v": "to_v_lora",
    "to_out.0": "to_out_lora",
}


def write_motion_lora(path: Path, component: dict) -> None:
    """A motion LoRA as diffusers' conversion script wrote it: ``unet.`` + processor-style keys.

    The MotionAdapter's module paths (down_blocks.i.motion_modules.j...) are the paths the same
    modules get inside the UNetMotionModel that AnimateDiff builds, so the keys fit that UNet.
    """
    adapter = build_model(component_of(component["fits"], "diffusers"))
    rank = component["rank"]
    tensors = {}
    for name, module in adapter.named_modules():
        if not _MOTION_ATTENTION.search(name):
            continue
        for projection, lora_name in _PROCESSOR_NAMES.items():
            layer = module.get_submodule(projection)
            prefix = f"unet.{name}.processor.{lora_name}"
            down = torch.randn(rank, layer.in_features) / layer.in_features**0.5
            up = torch.randn(layer.out_features, rank) * _UP_SCALE / rank**0.5
            tensors[f"{prefix}.down.weight"] = down
            tensors[f"{prefix}.up.weight"] = up
    save_tensors(tensors, path, "safetensors")
