"""Which value each parameter takes: option > preset > user default > server default > built-in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

OPTION = "option"
USER_DEFAULT = "user default"
SERVER_DEFAULT = "server default"
BUILT_IN = "built-in"


def preset_source(name: str) -> str:
    return f"preset:{name}"


@dataclass(frozen=True)
class NamedParameters:
    """A stored preset as precedence sees it: its name and its parameters."""

    name: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class PresetLayers:
    """The stored layers for one command; any of them may be missing."""

    preset: NamedParameters | None = None
    user_default: NamedParameters | None = None
    server_default: NamedParameters | None = None


@dataclass(frozen=True)
class Resolved:
    """The effective parameters and, for each one, where its value came from."""

    values: Mapping[str, Any]
    sources: Mapping[str, str]
    # Keys a layer set that the built-in set does not know (say, from a preset saved by an older
    # version), with the source that set them; they are left out of `values`.
    ignored: tuple[tuple[str, str], ...] = field(default=())

    def explain(self) -> str:
        """One line per parameter, e.g. "steps = 6 (preset:portrait)", for /preset show or logs."""
        return "\n".join(
            f"{key} = {self.values[key]!r} ({self.sources[key]})" for key in self.values
        )


def resolve(
    options: Mapping[str, Any],
    layers: PresetLayers = PresetLayers(),
    *,
    built_in: Mapping[str, Any],
) -> Resolved:
    """Merge the layers for one command; the first layer that sets a key wins.

    `options` are the command's options as typed, with None for an option the user left out.
    `built_in` is the complete parameter set with its defaults; it decides which keys exist.
    A None at any layer above built-in means "not set here", so the next layer is asked.
    """
    ordered: list[tuple[str, Mapping[str, Any]]] = [(OPTION, options)]
    for layer, source in (
        (layers.preset, None),
        (layers.user_default, USER_DEFAULT),
        (layers.server_default, SERVER_DEFAULT),
    ):
        if layer is not None:
            ordered.append((source or preset_source(layer.name), layer.parameters))

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, default in built_in.items():
        for source, layer_values in ordered:
            if layer_values.get(key) is not None:
                values[key], sources[key] = layer_values[key], source
                break
        else:
            values[key], sources[key] = default, BUILT_IN

    ignored = tuple(
        (key, source)
        for source, layer_values in ordered
        for key, value in layer_values.items()
        if key not in built_in and value is not None
    )
    return Resolved(MappingProxyType(values), MappingProxyType(sources), ignored)
