"""Styles as commands and presets give them: up to three NAME[:WEIGHT] picks and a style_weight."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from generation.errors import InvalidInput
from generation.models.families import ModelFamily
from generation.models.styles import MAX_WEIGHT, MIN_WEIGHT, StyleLibrary, parse_style_option
from generation.modes.requests import MAX_STYLES
from storage.precedence import BUILT_IN, OPTION

STYLE_OPTIONS = ("style", "style_2", "style_3")
WEIGHTS = f"weights from {MIN_WEIGHT:g} to {MAX_WEIGHT:g}"
FORM = "NAME or NAME:WEIGHT, e.g. ink or ink:0.6"
DEFAULT_WEIGHT = "default weight"  # the allow-list's weight for the style, at run time


@dataclass(frozen=True)
class StylePick:
    """One style as chosen; its weight is None where the job's style weight or default applies."""

    name: str
    weight: float | None = None
    # The option it was typed in, so a refusal names the field to fix; not part of the value.
    option: str = field(default="style", compare=False)


@dataclass(frozen=True)
class EffectiveStyles:
    """The styles a job runs with, and where each one and its weight came from (for the caption)."""

    picks: tuple[StylePick, ...]
    origins: Mapping[str, str]


def parse_style_options(texts: Mapping[str, Any]) -> tuple[StylePick, ...] | None:
    """The picks typed in style, style_2 and style_3 (each may hold a comma list); None if none.

    Raises InvalidInput naming the option at fault and what it accepts.
    """
    given = [(option, texts[option]) for option in STYLE_OPTIONS if texts.get(option) is not None]
    if not given:
        return None
    picks: list[StylePick] = []
    for option, text in given:
        parts = [part for part in str(text).split(",") if part.strip()]
        if not parts:
            raise InvalidInput(option, "names no style", FORM)
        picks.extend(_parse_pick(option, part) for part in parts)
    if len(picks) > MAX_STYLES:
        names = ", ".join(pick.name for pick in picks)
        raise InvalidInput(
            "style", f"{len(picks)} styles picked ({names})", f"at most {MAX_STYLES} in all"
        )
    _check_distinct(picks)
    return tuple(picks)


def _parse_pick(option: str, text: str) -> StylePick:
    try:
        name, weight = parse_style_option(text)
    except InvalidInput as exc:
        raise InvalidInput(option, exc.problem, FORM) from exc
    name = name.lower()  # names are lower-case in the allow-list; phones capitalise
    if not name:
        raise InvalidInput(option, "a weight without a style name", FORM)
    if weight is not None:
        _check_weight(option, weight, f" for {name!r}")
    return StylePick(name, weight, option)


def _check_weight(parameter: str, weight: float, what: str = "") -> None:
    # Written as a negated range so NaN fails too.
    if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise InvalidInput(parameter, f"weight {weight:g}{what} is out of range", WEIGHTS)


def _check_distinct(picks: Sequence[StylePick]) -> None:
    seen: set[str] = set()
    for pick in picks:
        if pick.name in seen:
            raise InvalidInput(
                pick.option,
                f"{pick.name!r} is picked twice",
                "each style once; set its weight with NAME:WEIGHT",
            )
        seen.add(pick.name)


def usable_names(
    library: StyleLibrary, family: ModelFamily, allowed: Sequence[str] | None
) -> list[str]:
    """The styles users may pick here: made for this model, and allowed on this server."""
    names = [style.name for style in library.for_architecture(family.architecture)]
    return names if allowed is None else [name for name in names if name in allowed]


def check_style_names(
    picks: Sequence[StylePick],
    library: StyleLibrary,
    family: ModelFamily,
    allowed: Sequence[str] | None,
    *,
    stored_in: str | None = None,
) -> None:
    """Refuse a style that is unknown, made for another model, or not allowed on this server.

    ``stored_in`` names where stored picks came from (a preset, a job), for the message.
    """
    for pick in picks:
        where = pick.option if stored_in is None else f"style (from {stored_in})"
        known = ", ".join(usable_names(library, family, allowed)) or "none"
        if pick.name not in library.names():
            raise InvalidInput(where, f"unknown style {pick.name!r}", f"{known}; see /styles")
        if pick.name not in usable_names(library, family, None):
            raise InvalidInput(
                where, f"{pick.name!r} is made for another model than {family.name}", known
            )
        if allowed is not None and pick.name not in allowed:
            raise InvalidInput(where, f"the style {pick.name!r} is not allowed here", known)


def picks_to_json(picks: Sequence[StylePick] | None) -> list[dict[str, Any]] | None:
    """How presets and the journal store styles: a list of {"name", "weight"}."""
    if picks is None:
        return None
    return [{"name": pick.name, "weight": pick.weight} for pick in picks]


def as_picks(value: Any) -> tuple[StylePick, ...]:
    """Picks from a stored list (presets, the journal) or as parsed from options."""
    if not value:
        return ()
    if not isinstance(value, list | tuple):
        raise InvalidInput("style", "the stored styles are not a list", FORM)
    picks = []
    for item in value:
        if isinstance(item, StylePick):
            picks.append(item)
            continue
        name = item.get("name") if isinstance(item, dict) else None
        weight = item.get("weight") if isinstance(item, dict) else None
        if not isinstance(name, str) or not (weight is None or isinstance(weight, int | float)):
            raise InvalidInput("style", f"the stored style {item!r} is malformed", FORM)
        picks.append(StylePick(name, None if weight is None else float(weight)))
    return tuple(picks)


def effective_styles(values: Mapping[str, Any], sources: Mapping[str, str]) -> EffectiveStyles:
    """Apply the style weight to the resolved picks; a weight left None means the style's default.

    A style weight set with the styles (same option set, same preset) fills in the picks without
    a weight of their own; one typed as an option over stored styles re-weights all of them.
    """
    picks = as_picks(values.get("styles"))
    style_weight = values.get("style_weight")
    styles_from = sources.get("styles", BUILT_IN)
    weight_from = sources.get("style_weight", BUILT_IN)
    if style_weight is None:
        pass
    elif not picks:
        raise InvalidInput(
            "style_weight",
            "there is no style to apply it to",
            "pick a style with style, or use a preset that has styles",
        )
    else:
        _check_weight("style_weight", float(style_weight))
    override = style_weight is not None and weight_from == OPTION and styles_from != OPTION
    chosen, origins = [], {}
    for pick in picks:
        if pick.weight is not None and not override:
            weight, origin = pick.weight, styles_from
        elif style_weight is not None:
            weight = float(style_weight)
            origin = styles_from
            if weight_from != styles_from:
                origin = f"{styles_from}; weight from {weight_from}"
        else:
            weight, origin = None, f"{styles_from}; {DEFAULT_WEIGHT}"
        chosen.append(StylePick(pick.name, weight, pick.option))
        origins[pick.name] = origin
    return EffectiveStyles(tuple(chosen), origins)


def styles_text(picks: Sequence[StylePick]) -> str:
    """Picks as users type them: "ink:0.6, neon"."""
    return ", ".join(
        pick.name if pick.weight is None else f"{pick.name}:{pick.weight:g}" for pick in picks
    )


def fold_style_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A command's options with style, style_2 and style_3 parsed into one `styles` value.

    One value, so precedence overrides a preset's styles as a whole (None: none picked here).
    """
    folded = {key: value for key, value in options.items() if key not in STYLE_OPTIONS}
    folded["styles"] = parse_style_options(options)
    return folded
