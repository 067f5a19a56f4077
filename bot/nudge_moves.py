"""Nudges and canny-loop moves: one small change to a journaled job's parameters, bounds checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.refusal import Refusal
from generation.families import Mode, ModelFamily
from generation.requests import MAX_SEED
from generation.styles import MAX_WEIGHT, MIN_WEIGHT

MIN_STRENGTH = 0.05
EDGE_FACTOR = 1.5  # each "fewer/more edges" click scales both canny thresholds by this


@dataclass(frozen=True)
class Move:
    """One button's change; ``label`` is what a screen reader says, so it names the action."""

    key: str  # in the custom_id: lcm:nudge:<key>:<job id>
    label: str
    parameter: str  # which value it changes (for grouping buttons on a row)
    step: float


NUDGES = {
    move.key: move
    for move in (
        Move("seed-down", "Seed minus", "seed", -1),
        Move("seed-up", "Seed plus", "seed", 1),
        Move("guidance-down", "Guidance minus", "guidance", -0.5),
        Move("guidance-up", "Guidance plus", "guidance", 0.5),
        Move("strength-down", "Strength minus", "strength", -0.1),
        Move("strength-up", "Strength plus", "strength", 0.1),
        Move("style-down", "Style weight minus", "styles", -0.1),
        Move("style-up", "Style weight plus", "styles", 0.1),
    )
}
EDGE_MOVES = {
    move.key: move
    for move in (
        Move("edges-fewer", "Fewer edges", "edges", EDGE_FACTOR),
        Move("edges-more", "More edges", "edges", 1 / EDGE_FACTOR),
        Move("edges-invert", "Invert edges", "invert_edges", 0),
    )
}


def nudges_for(parameters: Mapping[str, Any]) -> list[Move]:
    """The nudges that mean something for this job: strength only where the mode has one, the
    style weight only when it has styles."""
    fields = Mode(parameters["mode"]).spec.fields
    return [
        move
        for move in NUDGES.values()
        if (move.parameter != "strength" or "strength" in fields)
        and (move.parameter != "styles" or parameters.get("styles"))
    ]


def apply_move(parameters: Mapping[str, Any], key: str, family: ModelFamily) -> dict[str, Any]:
    """``parameters`` with move ``key`` applied; Refusal naming the limit when it would pass it."""
    move = NUDGES.get(key) or EDGE_MOVES.get(key)
    if move is None:
        raise Refusal(f"Unknown change {key!r}.")
    changed = dict(parameters)
    if move.parameter == "seed":
        changed["seed"] = _bounded("Seed", int(parameters["seed"]) + int(move.step), 0, MAX_SEED)
    elif move.parameter == "guidance":
        value = round(float(parameters["guidance"]) + move.step, 2)
        changed["guidance"] = _bounded("Guidance", value, 0.0, family.max_guidance)
    elif move.parameter == "strength":
        changed["strength"] = _strength(parameters, move.step)
    elif move.parameter == "styles":
        changed["styles"] = _style_weights(parameters, move.step)
    elif move.parameter == "edges":
        changed["low_threshold"], changed["high_threshold"] = _thresholds(parameters, move.step)
    else:
        changed["invert_edges"] = not parameters.get("invert_edges")
    return changed


def _bounded(name: str, value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise Refusal(f"{name} is already at its limit: it stays within {low:g} to {high:g}.")
    return value


def _strength(parameters: Mapping[str, Any], step: float) -> float:
    strength = round(float(parameters["strength"]) + step, 2)
    steps = int(parameters["steps"])
    # LCM img2img runs int(steps × strength) steps: below 1 there is nothing to run.
    lowest = max(MIN_STRENGTH, 1 / steps)
    if not lowest - 1e-9 <= strength <= 1.0:
        raise Refusal(
            f"Strength is already at its limit: it stays within {lowest:.2f} to 1 "
            f"(at {steps} steps, steps × strength must be at least 1)."
        )
    return max(strength, lowest)


def _style_weights(parameters: Mapping[str, Any], step: float) -> list[dict[str, Any]]:
    styles = []
    for style in parameters.get("styles") or []:
        # A weight left to the style's default was resolved when the job ran; 1 if it was not.
        weight = round(
            float(style.get("weight") if style.get("weight") is not None else 1) + step, 2
        )
        _bounded(f"The weight of {style['name']}", weight, MIN_WEIGHT, MAX_WEIGHT)
        styles.append({"name": style["name"], "weight": weight})
    if not styles:
        raise Refusal("This picture has no style to weigh: nudge the seed or guidance instead.")
    return styles


def _thresholds(parameters: Mapping[str, Any], factor: float) -> tuple[int, int]:
    """Both canny thresholds scaled: higher thresholds keep only the strongest edges."""
    low, high = int(parameters["low_threshold"]), int(parameters["high_threshold"])
    new_low = min(255, max(1, round(low * factor)))
    new_high = min(255, max(new_low, round(high * factor)))
    if (new_low, new_high) == (low, high):
        which = "fewest" if factor > 1 else "most"
        raise Refusal(
            f"The edges are already the {which} there can be (thresholds {low}–{high}; "
            "they stay within 1 to 255)."
        )
    return new_low, new_high
