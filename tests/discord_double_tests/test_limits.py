"""The limit checks on their own: message bodies, mentions, command registration, choices."""

from __future__ import annotations

import pytest

from tests.discord_double import DiscordError, Limits, Rule, Upload
from tests.discord_double.limits import check_choices, check_commands, check_message
from tests.discord_double.store import mentions

LIMITS = Limits()


def _error(payload: dict, files: list[Upload] | None = None, limit: int = 100) -> DiscordError:
    with pytest.raises(DiscordError) as caught:
        check_message(payload, files or [], limits=LIMITS, upload_limit=limit)
    return caught.value


def test_message_limits_answer_discords_status_and_code() -> None:
    cases = [
        ({"content": "x" * 2001}, [], (400, 50035, Rule.CONTENT_TOO_LONG)),
        ({"embeds": [{"title": "t"}] * 11}, [], (400, 50035, Rule.TOO_MANY_EMBEDS)),
        ({"embeds": [{"description": "d" * 3001}] * 2}, [], (400, 50035, Rule.EMBEDS_TOO_LONG)),
        ({"embeds": [{"title": "t" * 257}]}, [], (400, 50035, Rule.INVALID_FORM)),
        ({}, [Upload("a.png", b"x" * 101)], (413, 40005, Rule.FILE_TOO_LARGE)),
        ({}, [Upload(f"{i}.png", b"x") for i in range(11)], (400, 30015, Rule.TOO_MANY_FILES)),
        ({}, [], (400, 50006, Rule.EMPTY_MESSAGE)),
    ]
    for payload, files, expected in cases:
        error = _error(payload, files)
        assert (error.status, error.code, error.rule) == expected, payload
    check_message(
        {"content": "x" * 2000}, [Upload("a", b"x" * 100)], limits=LIMITS, upload_limit=100
    )


def test_components_rows_buttons_and_custom_ids() -> None:
    def row(*buttons: dict) -> dict:
        return {"type": 1, "components": list(buttons)}

    def button(custom_id: str) -> dict:
        return {"type": 2, "style": 1, "label": "go", "custom_id": custom_id}

    assert _error({"components": [row(button("a" * 101))]}).errors is not None
    assert _error({"components": [row(button("a"), button("a"))]}).code == 50035
    assert _error({"components": [row(*(button(str(i)) for i in range(6)))]}).code == 50035
    assert _error({"components": [row(button(str(i))) for i in range(6)]}).code == 50035
    link = {"type": 2, "style": 5, "label": "docs", "custom_id": "x"}
    assert _error({"components": [row(link)]}).code == 50035
    check_message({"components": [row(button("ok"))]}, [], limits=LIMITS, upload_limit=1)


def test_mentions_follow_allowed_mentions() -> None:
    text = "@everyone @here <@1> <@!2> <@&3>"
    assert mentions(text, None) == [
        ("everyone", None),
        ("here", None),
        ("user", 1),
        ("user", 2),
        ("role", 3),
    ]
    assert mentions(text, {"parse": []}) == []
    assert mentions(text, {"parse": ["users"]}) == [("user", 1), ("user", 2)]
    assert mentions(text, {"parse": [], "users": ["2"], "roles": ["3"]}) == [
        ("user", 2),
        ("role", 3),
    ]


def test_command_registration_rules() -> None:
    def command(**extra: object) -> dict:
        return {"name": "draw", "description": "Draw", "type": 1, **extra}

    check_commands([command(options=[{"name": "p", "description": "P", "type": 3}])], LIMITS)
    bad = [
        [command(name="Draw")],
        [command(description="")],
        [command(), command()],
        [command(options=[{"name": f"o{i}", "description": "o", "type": 3} for i in range(26)])],
        [
            command(
                options=[
                    {"name": "a", "description": "a", "type": 3},
                    {"name": "b", "description": "b", "type": 3, "required": True},
                ]
            )
        ],
        [
            command(
                options=[
                    {
                        "name": "s",
                        "description": "s",
                        "type": 3,
                        "autocomplete": True,
                        "choices": [{"name": "x", "value": "x"}],
                    }
                ]
            )
        ],
    ]
    for commands in bad:
        with pytest.raises(DiscordError) as caught:
            check_commands(commands, LIMITS)
        assert caught.value.code == 50035, commands


def test_autocomplete_choices() -> None:
    check_choices([{"name": "One", "value": 1}], 4, LIMITS)
    for choices, option_type in [
        ([{"name": str(i), "value": str(i)} for i in range(26)], 3),
        ([{"name": "", "value": "x"}], 3),
        ([{"name": "One", "value": "1"}], 4),
    ]:
        with pytest.raises(DiscordError):
            check_choices(choices, option_type, LIMITS)
