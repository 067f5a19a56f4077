"""Hub-faithful offline repositories: every registry hub id, laid out as on the hub, tiny weights.

Test support only: production code (bot/, the engine, the pipelines) never imports this package.
Each hub id gets a manifest (manifests/*.json: the real repository's files, formats, variants,
config keys and LoRA key style, with where each fact was looked up) and a builder that writes a
repository with those files, shrunk random weights, into a Hugging Face hub cache folder. Point
``HF_HOME`` at :func:`ensure_hub_cache` and set ``HF_HUB_OFFLINE=1``: the production
``from_pretrained(hub_id)`` calls then read these repositories exactly as they read a real cache.
"""

from generation.models.testing.hub_faithful.cache import (
    HUB_FAITHFUL_VERSION,
    ensure_hub_cache,
    repo_folder,
)
from generation.models.testing.hub_faithful.manifest import load_manifests

__all__ = ["HUB_FAITHFUL_VERSION", "ensure_hub_cache", "load_manifests", "repo_folder"]
