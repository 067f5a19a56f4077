"""Read the per-hub-id manifests that record each real repository's layout."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from types import MappingProxyType


@lru_cache(maxsize=1)
def load_manifests() -> MappingProxyType:
    """{hub id: manifest}, one per file in manifests/ (``org--name.json``)."""
    folder = resources.files("generation.models.testing.hub_faithful").joinpath("manifests")
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            manifest = json.loads(entry.read_text("utf-8"))
            found[manifest["hub_id"]] = manifest
    return MappingProxyType(found)


def merged_config(component: dict) -> dict:
    """The real config with the shrunk sizes laid over it (nested dicts merge key by key)."""
    return _merge(component["real"], component["shrunk"])


def _merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merge(base[key], value)
        else:
            merged[key] = value
    return merged


def component_of(hub_id: str, kind: str) -> dict:
    """The first component of ``kind`` in the manifest of ``hub_id`` (e.g. its UNet)."""
    for where, component in load_manifests()[hub_id]["components"].items():
        if component["kind"] == kind and (kind != "diffusers" or where in ("", "unet")):
            return component
    raise KeyError(f"{hub_id} has no {kind} component")
