"""The nudges and canny-loop moves on journaled parameters: each change, and each limit refused."""

from __future__ import annotations

import pytest

from bot.nudge_moves import apply_move, nudges_for
from bot.refusal import Refusal
from generation.models.families import HUB_FAMILIES

SD15 = HUB_FAMILIES["sd15"]
IMG2IMG = {
    "mode": "img2img",
    "prompt": "a boat",
    "seed": 7,
    "steps": 4,
    "guidance": 1.0,
    "strength": 0.3,
    "styles": [{"name": "ink", "weight": 0.8}, {"name": "neon", "weight": 1.95}],
}


def test_each_nudge_changes_its_value_and_only_it():
    assert apply_move(IMG2IMG, "seed-up", SD15)["seed"] == 8
    assert apply_move(IMG2IMG, "guidance-up", SD15)["guidance"] == 1.5
    lower = apply_move(IMG2IMG, "strength-down", SD15)
    assert lower["strength"] == pytest.approx(0.25) and lower["seed"] == 7
    assert apply_move(IMG2IMG, "style-down", SD15)["styles"] == [
        {"name": "ink", "weight": 0.7},
        {"name": "neon", "weight": 1.85},
    ]
    # Each style stops at the limit on its own; the others still move.
    assert apply_move(IMG2IMG, "style-up", SD15)["styles"] == [
        {"name": "ink", "weight": 0.9},
        {"name": "neon", "weight": 2.0},
    ]
    # A step past a limit stops at it: strength 0.3 at 4 steps goes down to 0.25, no lower.
    assert apply_move({**IMG2IMG, "strength": 0.28}, "strength-down", SD15)["strength"] == 0.25
    assert IMG2IMG["seed"] == 7, "the parameters given are left alone"


def test_which_nudges_a_job_gets():
    keys = [move.key for move in nudges_for(IMG2IMG)]
    assert {"strength-up", "style-up"} <= set(keys)
    txt2img = {**IMG2IMG, "mode": "txt2img", "styles": []}
    assert [move.key for move in nudges_for(txt2img)] == [
        "seed-down",
        "seed-up",
        "guidance-down",
        "guidance-up",
    ]


@pytest.mark.parametrize(
    ("parameters", "move", "says"),
    [
        ({**IMG2IMG, "seed": 0}, "seed-down", "Seed is already at its limit: it stays within 0"),
        ({**IMG2IMG, "guidance": 8.0}, "guidance-up", "within 0 to 8"),
        # LCM img2img runs int(steps × strength) steps: at 4 steps, 0.25 is the least.
        ({**IMG2IMG, "strength": 0.25}, "strength-down", "within 0.25 to 1 (at 4 steps"),
        ({**IMG2IMG, "strength": 1.0}, "strength-up", "Strength is already at its limit"),
        (
            {**IMG2IMG, "styles": [{"name": "ink", "weight": 2.0}]},
            "style-up",
            "The style weights are already at their limit: they stay within -2 to 2",
        ),
        ({**IMG2IMG, "styles": []}, "style-up", "no style to weigh"),
        ({"low_threshold": 255, "high_threshold": 255}, "edges-fewer", "already the fewest"),
        ({"low_threshold": 1, "high_threshold": 1}, "edges-more", "already the most"),
        (IMG2IMG, "sharpen", "Unknown change 'sharpen'"),
    ],
)
def test_a_move_past_a_limit_is_refused_naming_it(parameters, move, says):
    with pytest.raises(Refusal) as refused:
        apply_move(parameters, move, SD15)
    assert says in str(refused.value)


def test_edges_scale_both_thresholds_and_invert_toggles():
    canny = {"low_threshold": 100, "high_threshold": 200, "invert_edges": False}
    more = apply_move(canny, "edges-more", SD15)
    assert (more["low_threshold"], more["high_threshold"]) == (67, 133)
    fewer = apply_move(canny, "edges-fewer", SD15)
    assert (fewer["low_threshold"], fewer["high_threshold"]) == (150, 255)
    inverted = apply_move(canny, "edges-invert", SD15)
    assert inverted["invert_edges"] is True
    assert apply_move(inverted, "edges-invert", SD15)["invert_edges"] is False
