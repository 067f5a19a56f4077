"""Nudges and canny-loop moves: one small change to a journaled job's parameters, bounds checked."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.refusal import Refusal
from generation.models.families import ModelFamily
from generation.models.styles import MAX_WEIGHT, MIN_WEIGHT
from generation.modes import Mode
from generation.modes.requests import MAX_SEED

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
        changed["seed"] = int(_step("Seed", int(parameters["seed"]), move.step, 0, MAX_SEED))
    elif move.parameter == "guidance":
        guidance = float(parameters["guidance"])
        changed["guidance"] = _step("Guidance", guidance, move.step, 0.0, family.max_guidance)
    elif move.parameter == "strength":
        changed["strength"] = _strength(parameters, move.step)
    elif move.parameter == "styles":
        changed["styles"] = _style_weights(parameters, move.step)
    elif move.parameter == "edges":
        changed["low_threshold"], changed["high_threshold"] = _thresholds(parameters, move.step)
    else:
        changed["invert_edges"] = not parameters.get("invert_edges")
    return changed


def _step(name: str, current: float, step: float, low: float, high: float) -> float:
    """One step, stopped at the limit; a value already at its limit is refused, naming it."""
    value = min(max(round(current + step, 2), low), high)
    if value == current:
        raise Refusal(f"{name} is already at its limit: it stays within {low:g} to {high:g}.")
    return value


def _strength(parameters: Mapping[str, Any], step: float) -> float:
    steps = int(parameters["steps"])
    # LCM img2img runs int(steps × strength) steps: below 1 there is nothing to run.
    lowest = max(MIN_STRENGTH, math.ceil(100 / steps) / 100)
    try:
        return _step("Strength", float(parameters["strength"]), step, lowest, 1.0)
    except Refusal:
        raise Refusal(
            f"Strength is already at its limit: it stays within {lowest:g} to 1 "
            f"(at {steps} steps, steps × strength must be at least 1)."
        ) from None


def _style_weights(parameters: Mapping[str, Any], step: float) -> list[dict[str, Any]]:
    """Every style of the job one step, each stopped at the weight limit."""
    styles = []
    for style in parameters.get("styles") or []:
        # The journal holds each style's resolved weight; 1 stands in for one that has none.
        current = float(style["weight"] if style.get("weight") is not None else 1)
        weight = min(max(round(current + step, 2), MIN_WEIGHT), MAX_WEIGHT)
        styles.append({"name": style["name"], "weight": weight, "moved": weight != current})
    if not styles:
        raise Refusal("This picture has no style to weigh: nudge the seed or guidance instead.")
    moved = [style.pop("moved") for style in styles]  # all of them: no short-circuit
    if not any(moved):
        raise Refusal(
            f"The style weights are already at their limit: they stay within "
            f"{MIN_WEIGHT:g} to {MAX_WEIGHT:g}."
        )
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
