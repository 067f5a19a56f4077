"""A /sweep's plan: prompt permutations (`a {red, blue} car`) × one parameter axis, as cells."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

from bot.refusal import Refusal

DEFAULT_MAX_CELLS = 16
# A hard ceiling: the sheet's select menu offers one option per cell, and Discord allows 25.
HARD_MAX_CELLS = 25

# Axis name → (its option name in build_request's values, integer-valued, how the label reads).
AXES = {
    "seed": ("seed", True, "seed"),
    "style_weight": ("style_weight", False, "style weight"),
    "strength": ("strength", False, "strength"),
    "guidance": ("guidance", False, "guidance"),
    "canny_scale": ("conditioning_scale", False, "canny scale"),
    "steps": ("steps", True, "steps"),
}
VALUES_FORM = "a list like `1, 2, 5`, a range like `1..4`, or evenly spaced like `0.2..0.8 x4`"
_RANGE = re.compile(
    r"^\s*(?P<start>-?[0-9.]+)\s*\.\.\s*(?P<stop>-?[0-9.]+)\s*(?:[x×]\s*(?P<count>[0-9]+))?\s*$"
)


@dataclass(frozen=True)
class SweepCell:
    row: int
    column: int
    prompt: str
    value: float | int | None  # the axis value; None when the sweep has no axis


@dataclass(frozen=True)
class SweepPlan:
    """Rows are prompt permutations, columns the axis values; cells row by row."""

    template: str
    prompts: tuple[str, ...]
    row_labels: tuple[str, ...]
    axis: str | None
    values: tuple[float | int, ...]
    column_labels: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.prompts) * max(1, len(self.values))

    def cells(self) -> list[SweepCell]:
        values = self.values or (None,)
        return [
            SweepCell(row, column, prompt, value)
            for row, prompt in enumerate(self.prompts)
            for column, value in enumerate(values)
        ]

    def cell_label(self, cell: SweepCell) -> str:
        return f"{self.row_labels[cell.row]} · {self.column_labels[cell.column]}"


def parse_permutations(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every prompt the template's `{a, b}` groups make, and each one's row label.

    Several groups multiply (`{a, b} {c, d}` → 4 prompts); an option may be empty (`{, red}`).
    """
    parts: list[str | list[str]] = []  # literal text, or a group's options
    depth_start = None
    literal_start = 0
    for index, char in enumerate(template):
        if char == "{":
            if depth_start is not None:
                raise Refusal(
                    f"The prompt has a `{{` inside another group at character {index + 1}: "
                    "groups cannot nest. Write `a {red, blue} car`."
                )
            parts.append(template[literal_start:index])
            depth_start = index
        elif char == "}":
            if depth_start is None:
                raise Refusal(
                    f"The prompt has a `}}` without its `{{` at character {index + 1}. "
                    "Write `a {red, blue} car`."
                )
            options = [option.strip() for option in template[depth_start + 1 : index].split(",")]
            if len(options) < 2 and not options[0]:
                raise Refusal(
                    f"The group at character {depth_start + 1} is empty: give the choices "
                    "separated by commas, e.g. `{red, blue}`."
                )
            parts.append(options)
            depth_start = None
            literal_start = index + 1
    if depth_start is not None:
        raise Refusal(
            f"The group opened at character {depth_start + 1} is never closed with `}}`. "
            "Write `a {red, blue} car`."
        )
    parts.append(template[literal_start:])
    groups = [part for part in parts if isinstance(part, list)]
    if not groups:
        prompt = " ".join(template.split())
        return (prompt,), ("prompt",)
    prompts, labels = [], []
    for choice in itertools.product(*groups):
        picked = iter(choice)
        text = "".join(part if isinstance(part, str) else next(picked) for part in parts)
        prompts.append(" ".join(text.split()))  # an empty option leaves no double space
        labels.append(" · ".join(option or "(none)" for option in choice))
    return tuple(prompts), tuple(labels)


def parse_values(axis: str, text: str) -> tuple[float | int, ...]:
    """The axis values ``text`` gives: a list, an integer range, or evenly spaced numbers."""
    _, integral, name = AXES[axis]
    text = text.strip()
    if not text:
        raise Refusal(f"Give the {name} values: {VALUES_FORM}.")
    match = _RANGE.match(text)
    if match:
        start, stop = _number(name, match["start"]), _number(name, match["stop"])
        if match["count"] is not None:
            count = int(match["count"])
            if count < 2:
                raise Refusal(f"`x{count}` makes no range: give 2 or more values, e.g. `x4`.")
            if count > HARD_MAX_CELLS:
                raise Refusal(
                    f"`x{count}` is too many values: a sweep has at most {HARD_MAX_CELLS} cells."
                )
            values = [start + (stop - start) * i / (count - 1) for i in range(count)]
        else:
            if start != int(start) or stop != int(stop):
                raise Refusal(
                    f"`{text}` needs a count for decimals, e.g. `{match['start']}.."
                    f"{match['stop']} x4` for 4 evenly spaced values."
                )
            step = 1 if stop >= start else -1
            if abs(stop - start) + 1 > HARD_MAX_CELLS:
                raise Refusal(
                    f"`{text}` makes {int(abs(stop - start)) + 1} values: a sweep has at most "
                    f"{HARD_MAX_CELLS} cells."
                )
            values = list(range(int(start), int(stop) + step, step))
    else:
        values = [_number(name, item) for item in text.split(",") if item.strip()]
        if not values:
            raise Refusal(f"Give the {name} values: {VALUES_FORM}.")
    if integral:
        if any(not math.isclose(v, round(v)) for v in values):
            raise Refusal(f"The {name} takes whole numbers; `{text}` gives fractions.")
        values = [round(v) for v in values]
    else:
        values = [round(float(v), 4) for v in values]
    if len(set(values)) != len(values):
        raise Refusal(f"`{text}` gives the same {name} twice: each value once.")
    return tuple(values)


def _show(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _number(name: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise Refusal(
            f"`{text.strip()[:20]}` is not a number; the {name} values are {VALUES_FORM}."
        )
    return value


def plan_sweep(
    template: str, axis: str | None, values: str | None, *, max_cells: int = DEFAULT_MAX_CELLS
) -> SweepPlan:
    """Parse and check a sweep; Refusal says what was wrong and what is allowed."""
    prompts, row_labels = parse_permutations(template)
    if axis is None and values:
        raise Refusal("Values were given without an axis: pick what they set in `axis`.")
    if axis is not None and axis not in AXES:
        raise Refusal(f"Unknown axis {axis!r}: one of {', '.join(AXES)}.")
    parsed = parse_values(axis, values or "") if axis is not None else ()
    if axis is None and len(prompts) < 2:
        raise Refusal(
            "A sweep needs something to vary: a prompt group like `a {red, blue} car`, "
            "an axis with values, or both."
        )
    name = AXES[axis][2] if axis else ""
    plan = SweepPlan(
        template=template,
        prompts=prompts,
        row_labels=row_labels,
        axis=axis,
        values=parsed,
        column_labels=tuple(f"{name} {_show(value)}" for value in parsed) or ("",),
    )
    limit = min(max_cells, HARD_MAX_CELLS)
    if plan.size > limit:
        raise Refusal(
            f"This sweep makes {len(prompts)} prompt(s) × {max(1, len(parsed))} value(s) = "
            f"{plan.size} cells; at most {limit} are allowed. Use fewer choices or values."
        )
    return plan
