"""Build one repository's files from its manifest: every component, in the real layout."""

from __future__ import annotations

from pathlib import Path

from generation.models.testing.hub_faithful.components import (
    seed_for,
    write_json,
    write_model,
    write_tokenizer,
)
from generation.models.testing.hub_faithful.loras import write_kohya_lora, write_motion_lora
from generation.models.testing.tiny_upscaler import write_esrgan


def build_repo(folder: Path, manifest: dict) -> None:
    """Write every component of ``manifest`` under ``folder`` (the repository root)."""
    hub_id = manifest["hub_id"]
    for where, component in manifest["components"].items():
        seed_for(hub_id, where)
        target = folder / where if where else folder
        kind = component["kind"]
        if kind == "json":
            write_json(target, component["content"])
        elif kind == "tokenizer":
            write_tokenizer(target, component)
        elif kind == "lora_kohya":
            write_kohya_lora(target, component)
        elif kind == "lora_motion":
            write_motion_lora(target, component)
        elif kind == "esrgan":
            write_esrgan(target, component)
        else:
            write_model(target, component)
