"""The operator's style allow-list: named LoRAs users may pick, never paths they type."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from generation.errors import InvalidInput, ModelUnavailable

STYLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MIN_WEIGHT, MAX_WEIGHT = -2.0, 2.0
_ARCHITECTURES = ("sd", "sdxl")
_EXAMPLE = """\
[styles.pixel-art]
source = "loras/pixel-art.safetensors"   # a local file (relative to this file) or a hub repo id
# weight_name = "pixel.safetensors"      # the file inside a hub repo or folder
default_weight = 0.8
trigger_words = ["pixel art"]
architecture = "sd"                      # "sd" (SD1.5, Dreamshaper) or "sdxl" (SDXL, SSD-1B)
description = "Chunky 16-bit pixel art"
"""


@dataclass(frozen=True)
class Style:
    """One allowed LoRA: where its weights are, how strong it is by default, what it adds."""

    name: str
    source: str
    weight_name: str | None
    default_weight: float
    trigger_words: tuple[str, ...]
    architecture: str
    description: str = ""

    @property
    def adapter_name(self) -> str:
        return style_adapter_name(self.name)


def style_adapter_name(name: str) -> str:
    """The adapter name a style is loaded under in the pipelines."""
    # Prefixed so a style can never collide with the built-in "lcm" and motion adapters.
    return f"style-{name}"


@dataclass(frozen=True)
class StyleChoice:
    """A style picked for one request, at a weight."""

    name: str
    weight: float


class StyleLibrary:
    """The parsed allow-list; lookups by name are the only way in."""

    def __init__(self, styles: Mapping[str, Style] | None = None) -> None:
        self._styles = MappingProxyType(dict(styles or {}))

    @classmethod
    def load(cls, path: Path) -> StyleLibrary:
        """Parse the TOML allow-list at ``path``; every error names the style and the field."""
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except FileNotFoundError as exc:
            raise ModelUnavailable(f"styles file {path} does not exist") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ModelUnavailable(f"styles file {path} is not valid TOML: {exc}") from exc
        table = data.get("styles", {})
        if not isinstance(table, dict):
            raise ModelUnavailable(f"styles file {path}: [styles] must be a table\n{_EXAMPLE}")
        styles = {name: _parse_style(name, entry, path.parent) for name, entry in table.items()}
        return cls(styles)

    def __iter__(self) -> Iterator[Style]:
        return iter(self._styles.values())

    def __len__(self) -> int:
        return len(self._styles)

    def names(self) -> tuple[str, ...]:
        return tuple(self._styles)

    def for_architecture(self, architecture: str) -> tuple[Style, ...]:
        return tuple(s for s in self._styles.values() if s.architecture == architecture)

    def get(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            allowed = ", ".join(self._styles) or "none configured"
            raise InvalidInput("style", f"unknown style {name!r}", allowed)
        return style

    def choose(self, name: str, weight: float | None = None) -> StyleChoice:
        """Validate a user's pick; the weight defaults to the operator's."""
        style = self.get(name)
        chosen = style.default_weight if weight is None else float(weight)
        if not MIN_WEIGHT <= chosen <= MAX_WEIGHT:
            raise InvalidInput(
                "style weight",
                f"{chosen} for {name!r} is out of range",
                f"{MIN_WEIGHT}–{MAX_WEIGHT}",
            )
        return StyleChoice(name, chosen)


def parse_style_option(text: str) -> tuple[str, float | None]:
    """Split ``NAME[:WEIGHT]`` as typed on the command line."""
    name, sep, weight = text.partition(":")
    if not sep:
        return name.strip(), None
    try:
        return name.strip(), float(weight)
    except ValueError as exc:
        raise InvalidInput(
            "style", f"weight {weight!r} is not a number", "NAME or NAME:0.8"
        ) from exc


def _parse_style(name: str, entry: object, base_dir: Path) -> Style:
    def fail(problem: str) -> ModelUnavailable:
        return ModelUnavailable(f"style {name!r}: {problem}")

    if not STYLE_NAME.match(name):
        raise fail(
            "names are 1–32 characters of a-z, 0-9, '-' and '_', starting with a letter/digit"
        )
    if not isinstance(entry, dict):
        raise fail("must be a table with at least `source`")
    source = entry.get("source")
    if not isinstance(source, str) or not source or "\x00" in source:
        raise fail("`source` must be a .safetensors path or a hub repo id")
    weight_name = entry.get("weight_name")
    if weight_name is not None and not str(weight_name).endswith(".safetensors"):
        raise fail("`weight_name` must name a .safetensors file: pickled weights are never loaded")
    source = _resolve_source(source, base_dir, fail)
    weight = entry.get("default_weight", 1.0)
    if not isinstance(weight, int | float) or not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise fail(f"`default_weight` must be a number in {MIN_WEIGHT}–{MAX_WEIGHT}")
    triggers = entry.get("trigger_words", [])
    if not isinstance(triggers, list) or not all(isinstance(t, str) for t in triggers):
        raise fail("`trigger_words` must be a list of strings")
    architecture = entry.get("architecture", "sd")
    if architecture not in _ARCHITECTURES:
        raise fail(f"`architecture` must be one of {', '.join(_ARCHITECTURES)}")
    return Style(
        name=name,
        source=source,
        weight_name=str(weight_name) if weight_name else None,
        default_weight=float(weight),
        trigger_words=tuple(triggers),
        architecture=architecture,
        description=str(entry.get("description", "")),
    )


def _resolve_source(source: str, base_dir: Path, fail) -> str:
    """A source that exists on disk (relative to the styles file) is local; else a hub repo id."""
    path = (base_dir / Path(source).expanduser()).resolve()
    if path.exists():
        if path.is_file() and path.suffix != ".safetensors":
            raise fail(f"{path} is not a .safetensors file: pickled weights are never loaded")
        return str(path)
    if source.endswith(".safetensors") or source.startswith((".", "/", "~")):
        raise fail(f"{path} does not exist")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", source):
        raise fail(
            f"`source` {source!r} is neither an existing path nor a hub repo id (owner/name)"
        )
    return source
