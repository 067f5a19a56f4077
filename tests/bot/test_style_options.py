"""Style options as typed and as stored: parsing, weights, and rows from the previous version."""

from __future__ import annotations

import pytest

from bot.job_parameters import build_request, builtin_defaults, upgrade_parameters
from bot.style_options import StylePick, as_picks, effective_styles, parse_style_options
from generation.errors import InvalidInput
from generation.models.families import HUB_FAMILIES
from generation.models.styles import StyleChoice
from generation.modes import Mode


def test_each_option_may_hold_a_comma_list_in_any_case():
    picks = parse_style_options({"style": " Ink:0.6 , neon", "style_3": "chalk:-1.5"})
    assert picks == (StylePick("ink", 0.6), StylePick("neon"), StylePick("chalk", -1.5))
    assert [pick.option for pick in picks] == ["style", "style", "style_3"]
    assert parse_style_options({"style": None, "style_weight": 1.0}) is None


@pytest.mark.parametrize(
    ("texts", "start"),
    [
        ({"style": "ink:nan"}, "style: weight nan for 'ink' is out of range"),
        ({"style_2": "ink:inf"}, "style_2: weight inf for 'ink' is out of range"),
        ({"style": " , "}, "style: names no style"),
        ({"style": ":0.5"}, "style: a weight without a style name"),
    ],
)
def test_malformed_picks_name_the_option(texts, start):
    with pytest.raises(InvalidInput) as refused:
        parse_style_options(texts)
    assert str(refused.value).startswith(start)


def test_stored_styles_that_are_not_a_list_of_names_and_weights_are_refused():
    assert as_picks([{"name": "ink", "weight": 1}]) == (StylePick("ink", 1.0),)
    for stored in ("ink", [{"weight": 1}], [{"name": "ink", "weight": "high"}]):
        with pytest.raises(InvalidInput):
            as_picks(stored)


def test_a_style_weight_out_of_range_from_storage_is_refused():
    with pytest.raises(InvalidInput, match="style_weight: weight 7 is out of range"):
        effective_styles(
            {"styles": [{"name": "ink", "weight": None}], "style_weight": 7},
            {"styles": "preset:x", "style_weight": "preset:x"},
        )


@pytest.mark.parametrize(
    ("old", "styles"),
    [
        ({"style": "ink", "style_weight": 0.5}, [{"name": "ink", "weight": 0.5}]),
        ({"style": None, "style_weight": None}, None),
        ({"style": "neon"}, [{"name": "neon", "weight": None}]),  # an old preset: no weight
    ],
)
def test_rows_and_presets_of_the_previous_version_upgrade(old, styles):
    upgraded = upgrade_parameters({"steps": 3, **old})
    assert upgraded == {"steps": 3, "styles": styles}


def test_an_upgraded_old_row_builds_the_request_it_described():
    family = HUB_FAMILIES["sd15"]
    values = {
        **builtin_defaults(family),
        **upgrade_parameters({"style": "ink", "style_weight": 0.5}),
    }
    request = build_request(Mode.TXT2IMG, "a kite", values)
    assert request.styles == (StyleChoice("ink", 0.5),)
