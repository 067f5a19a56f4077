"""/sweep's plan: permutations multiply, values parse as lists and ranges, bad input is named."""

from __future__ import annotations

import pytest

from bot.refusal import Refusal
from bot.sweep_plan import parse_permutations, parse_values, plan_sweep


def test_groups_permute_and_label_the_rows():
    prompts, labels = parse_permutations("a {red, blue, gold} car")
    assert prompts == ("a red car", "a blue car", "a gold car")
    assert labels == ("red", "blue", "gold")
    prompts, labels = parse_permutations("{a, an old} {car,boat}")
    assert prompts == ("a car", "a boat", "an old car", "an old boat")
    assert labels[3] == "an old · boat"
    assert parse_permutations("a {, shiny} car") == (("a car", "a shiny car"), ("(none)", "shiny"))


@pytest.mark.parametrize(
    ("axis", "text", "expected"),
    [
        ("seed", "1..4", (1, 2, 3, 4)),
        ("seed", "7, 3,9", (7, 3, 9)),
        ("steps", "4..2", (4, 3, 2)),
        ("strength", "0.2..0.8 x4", (0.2, 0.4, 0.6, 0.8)),
        ("guidance", "1..3", (1.0, 2.0, 3.0)),
        ("canny_scale", "0.5, 1.5", (0.5, 1.5)),
    ],
)
def test_values_are_lists_integer_ranges_or_evenly_spaced(axis, text, expected):
    assert parse_values(axis, text) == expected


@pytest.mark.parametrize(
    ("template", "axis", "values", "says"),
    [
        ("a {red, blue car", "seed", "1..2", "never closed"),
        ("a red} car", "seed", "1..2", "without its"),
        ("a {red, {blue}} car", "seed", "1..2", "cannot nest"),
        ("a {} car", "seed", "1..2", "is empty"),
        ("a car", None, None, "something to vary"),
        ("a car", None, "1, 2", "without an axis"),
        ("a car", "seed", "0.5, 1", "whole numbers"),
        ("a car", "strength", "0.2..0.8", "needs a count"),
        ("a car", "guidance", "one, two", "is not a number"),
        ("a car", "seed", "1, 1", "same seed twice"),
        ("a {a,b,c,d,e} car", "seed", "1..4", "= 20 cells; at most 16"),
        ("a car", "seed", "1..40", "at most 25 cells"),
    ],
)
def test_bad_sweeps_are_refused_naming_what_is_wrong(template, axis, values, says):
    with pytest.raises(Refusal, match=says.replace("(", r"\(")):
        plan_sweep(template, axis, values)


def test_a_plan_lists_its_cells_row_by_row_with_labels():
    plan = plan_sweep("a {red, blue, gold} car", "seed", "1..4")
    assert plan.size == 12 and plan.column_labels == ("seed 1", "seed 2", "seed 3", "seed 4")
    cells = plan.cells()
    assert [(c.row, c.column) for c in cells[:5]] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]
    assert cells[5].prompt == "a blue car" and cells[5].value == 2
    assert plan.cell_label(cells[5]) == "blue · seed 2"
    assert plan_sweep("a car", "seed", "1..25", max_cells=25).size == 25
