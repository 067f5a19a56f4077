"""The modes room: one declaration per mode, request validation, and the pipelines that run them."""

from generation.modes.declarations import (
    COMMON_BATCH_FIELDS,
    MODES,
    Mode,
    ModeSpec,
    Recipe,
    default_guidance,
    supported_modes,
    supports,
)

__all__ = [
    "COMMON_BATCH_FIELDS",
    "MODES",
    "Mode",
    "ModeSpec",
    "Recipe",
    "default_guidance",
    "supported_modes",
    "supports",
]
