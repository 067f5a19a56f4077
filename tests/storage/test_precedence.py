"""Precedence table tests: every level wins over the ones below it; each value names its source."""

from __future__ import annotations

import pytest

from storage.precedence import (
    BUILT_IN,
    CHANNEL_DEFAULT,
    OPTION,
    SERVER_DEFAULT,
    USER_DEFAULT,
    NamedParameters,
    PresetLayers,
    preset_source,
    resolve,
    role_source,
    source_rank,
)

BUILT_INS = {"steps": 4, "count": 1, "guidance": None, "size": "512x512", "negative": ""}

PRESET = NamedParameters("portrait", {"steps": 6, "size": "512x768"})
USER = NamedParameters("my usual", {"steps": 5, "count": 2, "guidance": 1.2})
SERVER = NamedParameters("house", {"steps": 3, "count": 4, "guidance": 1.0, "negative": "blurry"})
ALL_LAYERS = PresetLayers(preset=PRESET, user_default=USER, server_default=SERVER)
CHANNEL = NamedParameters("anime", {"steps": 7})

# (what the user typed, which stored layers exist) → (steps, its source)
STEPS_TABLE = [
    pytest.param({"steps": 8}, ALL_LAYERS, 8, OPTION, id="option beats everything"),
    pytest.param({}, ALL_LAYERS, 6, "preset:portrait", id="preset beats user default"),
    pytest.param({}, PresetLayers(None, USER, SERVER), 5, USER_DEFAULT, id="user beats server"),
    pytest.param(
        {}, PresetLayers(None, None, SERVER), 3, SERVER_DEFAULT, id="server beats built-in"
    ),
    pytest.param({}, PresetLayers(), 4, BUILT_IN, id="built-in when nothing is set"),
    pytest.param(
        {}, PresetLayers(PRESET, USER, SERVER, CHANNEL), 6, "preset:portrait", id="preset > channel"
    ),
    pytest.param(
        {}, PresetLayers(None, USER, SERVER, CHANNEL), 7, CHANNEL_DEFAULT, id="channel > user"
    ),
    pytest.param({"steps": None}, ALL_LAYERS, 6, "preset:portrait", id="an omitted option is None"),
    pytest.param({}, PresetLayers(PRESET, None, SERVER), 6, "preset:portrait", id="gap: no user"),
    pytest.param(
        {}, PresetLayers(None, USER, None), 5, USER_DEFAULT, id="gap: no preset or server"
    ),
    pytest.param(
        {},
        PresetLayers(NamedParameters("empty", {"steps": None}), None, SERVER),
        3,
        SERVER_DEFAULT,
        id="a None stored in a preset falls through",
    ),
]


@pytest.mark.parametrize(("options", "layers", "steps", "source"), STEPS_TABLE)
def test_each_level_wins_over_the_levels_below(options, layers, steps, source):
    resolved = resolve(options, layers, built_in=BUILT_INS)
    assert resolved.values["steps"] == steps
    assert resolved.sources["steps"] == source


def test_every_key_reports_its_own_source_when_levels_mix():
    resolved = resolve({"guidance": 2.0}, ALL_LAYERS, built_in=BUILT_INS)

    assert dict(resolved.values) == {
        "steps": 6,
        "count": 2,
        "guidance": 2.0,
        "size": "512x768",
        "negative": "blurry",
    }
    assert dict(resolved.sources) == {
        "steps": "preset:portrait",
        "count": "user default",
        "guidance": "option",
        "size": "preset:portrait",
        "negative": "server default",
    }
    assert resolved.explain().splitlines() == [
        "steps = 6 (preset:portrait)",
        "count = 2 (user default)",
        "guidance = 2.0 (option)",
        "size = '512x768' (preset:portrait)",
        "negative = 'blurry' (server default)",
    ]


def test_falsy_values_still_count_as_set():
    resolved = resolve(
        {"negative": "", "count": 0}, PresetLayers(None, None, SERVER), built_in=BUILT_INS
    )
    assert (resolved.values["negative"], resolved.sources["negative"]) == ("", OPTION)
    assert (resolved.values["count"], resolved.sources["count"]) == (0, OPTION)


def test_a_built_in_none_is_kept_with_its_source():
    resolved = resolve({}, PresetLayers(), built_in=BUILT_INS)
    assert resolved.values["guidance"] is None and resolved.sources["guidance"] == BUILT_IN
    assert set(resolved.sources.values()) == {BUILT_IN}


def test_keys_the_built_ins_do_not_know_are_reported_not_used():
    stale = NamedParameters("old", {"sampler": "euler", "steps": 7})
    resolved = resolve({"hires": True}, PresetLayers(preset=stale), built_in=BUILT_INS)

    assert "sampler" not in resolved.values and "hires" not in resolved.values
    assert resolved.ignored == (("hires", OPTION), ("sampler", "preset:old"))
    assert resolved.values["steps"] == 7


def test_the_result_cannot_be_changed_by_accident():
    resolved = resolve({}, PresetLayers(), built_in=BUILT_INS)
    with pytest.raises(TypeError):
        resolved.values["steps"] = 99  # type: ignore[index]


def test_preset_sources_name_the_preset():
    assert preset_source("portrait") == "preset:portrait"


# A style weight qualifies the styles: it travels with them, never from a layer they were not from.
STYLED = {"styles": None, "style_weight": None, "steps": 4}
QUALIFIERS = {"styles": ("style_weight",)}
STYLED_PRESET = NamedParameters("mix", {"styles": ["ink", "neon"], "style_weight": 0.9})
STYLED_SERVER = NamedParameters("house", {"styles": ["chalk"], "style_weight": 0.2})


@pytest.mark.parametrize(
    ("options", "layers", "expected"),
    [
        pytest.param(
            {"styles": ["chalk"]},
            PresetLayers(preset=STYLED_PRESET),
            (["chalk"], OPTION, None, BUILT_IN),
            id="options replace the preset's styles and their weight together",
        ),
        pytest.param(
            {"style_weight": 0.3},
            PresetLayers(preset=STYLED_PRESET),
            (["ink", "neon"], "preset:mix", 0.3, OPTION),
            id="a weight option still re-weights the stored styles",
        ),
        pytest.param(
            {},
            PresetLayers(preset=STYLED_PRESET, server_default=STYLED_SERVER),
            (["ink", "neon"], "preset:mix", 0.9, "preset:mix"),
            id="the weight comes from the layer that gave the styles",
        ),
        pytest.param(
            {},
            PresetLayers(
                preset=NamedParameters("plain", {"styles": ["ink"]}),
                server_default=STYLED_SERVER,
            ),
            (["ink"], "preset:plain", None, BUILT_IN),
            id="never from a lower layer whose styles were overridden",
        ),
        pytest.param(
            {},
            PresetLayers(preset=NamedParameters("weight only", {"style_weight": 0.5})),
            (None, BUILT_IN, None, BUILT_IN),
            id="a weight without styles at its layer is not used",
        ),
    ],
)
def test_a_qualifier_travels_with_the_key_it_qualifies(options, layers, expected):
    resolved = resolve(options, layers, built_in=STYLED, qualifiers=QUALIFIERS)
    styles, styles_from, weight, weight_from = expected
    assert (resolved.values["styles"], resolved.sources["styles"]) == (styles, styles_from)
    assert (resolved.values["style_weight"], resolved.sources["style_weight"]) == (
        weight,
        weight_from,
    )
    assert list(resolved.values) == list(STYLED), "the built-in order is kept"


def test_source_rank_orders_every_layer_from_the_command_down():
    order = [
        OPTION,
        preset_source("portrait"),
        CHANNEL_DEFAULT,
        USER_DEFAULT,
        role_source("Booster"),
        SERVER_DEFAULT,
        BUILT_IN,
    ]
    assert [source_rank(source) for source in order] == list(range(len(order)))
