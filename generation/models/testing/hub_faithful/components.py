"""Write one manifest component (a model folder, a tokenizer, a JSON file) with tiny weights."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import torch

from generation.models.testing.clip_tokenizer import write_clip_tokenizer_files
from generation.models.testing.hub_faithful.manifest import merged_config

# ControlNet's zero convolutions and AnimateDiff's zero proj_out make a fresh random companion a
# no-op; these weights are drawn instead, so the control image and the motion matter.
_WAKE_STD = {"controlnet": 0.2, "motion": 0.05}


def seed_for(hub_id: str, where: str) -> None:
    """Seed torch from the repository and component name, so every build is identical."""
    torch.manual_seed(zlib.crc32(f"{hub_id}:{where}".encode()))


def write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2) + "\n", "utf-8")


def write_tokenizer(folder: Path, component: dict) -> None:
    """The real CLIP BPE files plus the tokenizer_config.json / special_tokens_map.json recorded."""
    write_clip_tokenizer_files(folder)
    write_json(folder / "tokenizer_config.json", component["tokenizer_config"])
    write_json(folder / "special_tokens_map.json", component["special_tokens_map"])


def build_model(component: dict) -> torch.nn.Module:
    """Instantiate the component's class from its real config with shrunk sizes."""
    config = merged_config(component)
    if component["kind"] == "diffusers":
        import diffusers

        cls = getattr(diffusers, component["class"])
        return cls.from_config({k: v for k, v in config.items() if not k.startswith("_")})
    from transformers import CLIPConfig, CLIPTextConfig

    if component["kind"] == "transformers":
        import transformers

        cls = getattr(transformers, component["class"])
        fields = {k: v for k, v in config.items() if k not in ("architectures", "model_type")}
        model = cls(CLIPTextConfig(**fields))
    else:  # the safety checker: a CLIPConfig with text and vision towers
        from diffusers.pipelines.stable_diffusion.safety_checker import (
            StableDiffusionSafetyChecker,
        )

        clip = CLIPConfig(
            text_config=config["text_config"],
            vision_config=config["vision_config"],
            projection_dim=config["projection_dim"],
        )
        model = StableDiffusionSafetyChecker(clip)
    model.config.architectures = config["architectures"]
    return model


def write_model(folder: Path, component: dict) -> torch.nn.Module:
    """config.json plus one weight file per (format, variant) the real repository has."""
    model = build_model(component)
    if "wake" in component:
        std = _WAKE_STD["motion" if component["class"] == "MotionAdapter" else "controlnet"]
        _wake(model, component["wake"], std)
    folder.mkdir(parents=True, exist_ok=True)
    if component["kind"] == "diffusers":
        model.save_config(str(folder))
    else:
        model.config.save_pretrained(str(folder))
    state = model.state_dict()
    for weights in component["weights"]:
        half = weights["variant"] == "fp16" or weights.get("dtype") == "float16"
        tensors = {
            key: (value.half() if half and value.is_floating_point() else value).contiguous()
            for key, value in state.items()
        }
        path = folder / weight_file_name(component["kind"], weights["format"], weights["variant"])
        save_tensors(tensors, path, weights["format"])
    return model


def weight_file_name(kind: str, file_format: str, variant: str | None) -> str:
    """The library's own file name for these weights (the names come from its constants)."""
    if kind == "diffusers":
        from diffusers.utils import SAFETENSORS_WEIGHTS_NAME, WEIGHTS_NAME
    else:
        from transformers.utils import SAFE_WEIGHTS_NAME as SAFETENSORS_WEIGHTS_NAME
        from transformers.utils import WEIGHTS_NAME
    name = SAFETENSORS_WEIGHTS_NAME if file_format == "safetensors" else WEIGHTS_NAME
    if variant:
        stem, extension = name.rsplit(".", 1)
        name = f"{stem}.{variant}.{extension}"
    return name


def save_tensors(tensors: dict, path: Path, file_format: str) -> None:
    """Safetensors, or torch.save's zip pickle where the real repository publishes only that.

    Writing pickle is how the stand-in stays faithful to a pickle-only repository; nothing in
    this project ever loads one without ``weights_only=True``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if file_format == "safetensors":
        from safetensors.torch import save_file

        save_file(tensors, str(path), metadata={"format": "pt"})
    elif file_format == "pickle":
        torch.save(tensors, str(path))
    else:
        raise ValueError(f"unknown weight format {file_format!r}")


def _wake(model: torch.nn.Module, pattern: str, std: float) -> None:
    regex = re.compile(pattern)
    for name, sub in model.named_modules():
        if regex.search(name) and isinstance(sub, torch.nn.Conv2d | torch.nn.Linear):
            torch.nn.init.normal_(sub.weight, std=std)
