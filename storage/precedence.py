"""Which value each parameter takes: option > preset > channel > user > server > built-in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

OPTION = "option"
CHANNEL_DEFAULT = "channel default"
USER_DEFAULT = "user default"
SERVER_DEFAULT = "server default"
BUILT_IN = "built-in"
ROLE = "role"  # a member's limit from one of their roles: "role @Booster" (bot.member_limits)


def preset_source(name: str) -> str:
    return f"preset:{name}"


def role_source(name: str) -> str:
    return f"{ROLE} @{name}"


def source_rank(source: str) -> int:
    """How near the command a source is: 0 for an option, then a preset, the channel's default,
    the user's, a role's (limits only: roles set no parameter), the server's, built-in.

    A channel's default beats the user's own: a themed channel is a place the user chose to post
    in, and a preset or option typed now still beats it.
    """
    if source == OPTION:
        return 0
    if source.startswith(preset_source("")):
        return 1
    if source.startswith(f"{ROLE} "):
        return 4
    return {CHANNEL_DEFAULT: 2, USER_DEFAULT: 3, SERVER_DEFAULT: 5}.get(source, 6)


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
    channel_default: NamedParameters | None = None  # the channel's preset or style


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
    qualifiers: Mapping[str, Sequence[str]] = MappingProxyType({}),
) -> Resolved:
    """Merge the layers for one command; the first layer that sets a key wins.

    `options` are the command's options as typed, with None for an option the user left out.
    `built_in` is the complete parameter set with its defaults; it decides which keys exist.
    A None at any layer above built-in means "not set here", so the next layer is asked.

    `qualifiers` maps a key to the keys that qualify it (the styles to their style weight). A
    qualifying key comes from the options, or else only from the layer that set the key it
    qualifies: a choice is overridden as a whole (a preset's style weight never applies to styles
    the user picked, nor to a server default's), while an option typed now still adjusts a
    stored choice (a style weight option re-weights a preset's styles).
    """
    ordered: list[tuple[str, Mapping[str, Any]]] = [(OPTION, options)]
    for layer, source in (
        (layers.preset, None),
        (layers.channel_default, CHANNEL_DEFAULT),
        (layers.user_default, USER_DEFAULT),
        (layers.server_default, SERVER_DEFAULT),
    ):
        if layer is not None:
            ordered.append((source or preset_source(layer.name), layer.parameters))

    qualified = {key: lead for lead, keys in qualifiers.items() for key in keys}
    chosen: dict[str, tuple[Any, str]] = {}
    for key, default in built_in.items():
        if key not in qualified:
            chosen[key] = _first_set(key, ordered, default)
    for key, lead in qualified.items():
        if key in built_in:
            lead_source = chosen[lead][1] if lead in chosen else None
            allowed = [(s, v) for s, v in ordered if s in (OPTION, lead_source)]
            chosen[key] = _first_set(key, allowed, built_in[key])

    values = {key: chosen[key][0] for key in built_in}
    sources = {key: chosen[key][1] for key in built_in}
    ignored = tuple(
        (key, source)
        for source, layer_values in ordered
        for key, value in layer_values.items()
        if key not in built_in and value is not None
    )
    return Resolved(MappingProxyType(values), MappingProxyType(sources), ignored)


def _first_set(
    key: str, ordered: Sequence[tuple[str, Mapping[str, Any]]], default: Any
) -> tuple[Any, str]:
    for source, layer_values in ordered:
        if layer_values.get(key) is not None:
            return layer_values[key], source
    return default, BUILT_IN
