"""Blocklist rules: RE2 programs, case and accent folding, whole words, errors, operator file."""

from __future__ import annotations

import pytest

from bot.blocklist import BadPattern, Blocklist, Rule, compile_rule, load_file
from bot.settings import SettingsError, load_settings


def matches(kind: str, pattern: str, *texts: str) -> bool:
    return Blocklist([Rule(kind, pattern)]).first_match(texts) is not None


def test_rules_compile_to_re2_programs_never_to_python_re():
    for kind, pattern in (("word", "boat"), ("regex", "(a+)+$")):
        program = compile_rule(kind, pattern)
        assert type(program).__module__.startswith("re2"), type(program)
    # RE2 has no backtracking features at all: Python's re would take these.
    for pattern in (r"(a)\1", r"(?<=a)b", r"(?=a)"):
        with pytest.raises(BadPattern):
            compile_rule("regex", pattern)


def test_a_pattern_built_to_backtrack_answers_correctly_on_a_long_prompt():
    # Python's re needs seconds for 25 characters of this; RE2 is linear (bench/blocklist_re2.py).
    assert not matches("regex", "(a+)+$", "a" * 999 + "!")
    assert matches("regex", "(a+)+$", "!" + "a" * 999)


@pytest.mark.parametrize(
    ("pattern", "text", "blocked"),
    [
        ("boat", "A BOAT at sea", True),
        ("boat", "boat!", True),
        ("boat", "boathouse", False),  # whole words only
        ("boat", "sailboat", False),
        ("crème brûlée", "CREME\tBRULEE", True),  # case, accents and spacing
        ("Ölfass", "olfass", True),
        ("naïve", "naive", True),
        ("katze", "die КАТЗЕ", False),  # other scripts are other letters
        ("a.b", "axb", False),  # a word is literal, never a pattern
        ("a.b", "see a.b here", True),
    ],
)
def test_words_match_whole_words_in_any_case_or_accents(pattern, text, blocked):
    assert matches("word", pattern, text) is blocked


def test_a_regex_is_case_and_accent_insensitive_and_any_text_counts():
    assert matches("regex", r"gr[ae]y\s*cats?", "a GRÉY cat")
    assert matches("regex", "ünder", "", None, "thunder UNDERground")
    assert not matches("regex", "x{3}", "xx")


@pytest.mark.parametrize(
    ("pattern", "text", "blocked"),
    [
        ("KRAKEN", "a kraken", True),  # uppercase in the pattern, as in the prompt
        ("STRAßE", "die Strasse", True),  # ß folds to ss, as the prompt's does
        ("Straße", "DIE STRASSE", True),
        ("STRAẞE", "straße", True),  # capital ẞ too
        ("stra(ß)+e", "strassssse", False),  # a quantifier takes the whole "ss"...
        ("straß+e", "strasse", True),
        ("stra(?:ß){2}e", "strassse", False),
        ("stra(?:ß){2}e", "strassssе", False),  # ...and a Cyrillic е is no e
        ("stra(?:ß){2}e", "strassssE", True),
        (r"\QStraße.\E", "strasse.", True),  # quoted text is folded as text
        (r"\QStraße.\E", "strassex", False),
        (r"\Sa", "ba", True),  # escapes keep their meaning (\S never becomes \s)
        (r"\Sa", " a", False),
    ],
)
def test_a_regex_is_folded_like_the_prompt(pattern, text, blocked):
    assert matches("regex", pattern, text) is blocked


@pytest.mark.parametrize(
    ("kind", "pattern", "says"),
    [
        ("regex", "(a+", "not valid (missing ): (a+); allowed: RE2 syntax"),
        ("regex", "[z-a]", "not valid (invalid character class range: z-a)"),
        ("regex", "x" * 201, "201 characters long; at most 200 are allowed"),
        ("word", "   ", "the pattern is empty"),
        ("glob", "*", "kind must be one of word, regex"),
    ],
)
def test_a_malformed_rule_says_what_is_wrong_and_what_is_allowed(kind, pattern, says):
    with pytest.raises(BadPattern, match=None) as caught:
        compile_rule(kind, pattern)
    assert says in str(caught.value)


def test_the_operator_file_names_its_bad_line(tmp_path):
    path = tmp_path / "blocklist.txt"
    path.write_text("# comment\n\nkraken\nre:sea +monsters?\nre:(oops\n", "utf-8")
    with pytest.raises(BadPattern, match=r"blocklist.txt, line 5: that regular expression"):
        load_file(path)
    path.write_text("# comment\n\nkraken\nre:sea +monsters?\n", "utf-8")
    assert load_file(path) == [
        Rule("word", "kraken", "blocklist.txt"),
        Rule("regex", "sea +monsters?", "blocklist.txt"),
    ]


def test_a_bad_blocklist_file_stops_the_start_naming_the_setting(tmp_path):
    path = tmp_path / "blocklist.txt"
    path.write_text("re:(oops\n", "utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, lcm_blocklist_file=str(path))
    assert "LCM_BLOCKLIST_FILE" in str(caught.value) and "line 1" in str(caught.value)
    with pytest.raises(SettingsError, match="cannot read the blocklist file"):
        load_settings(_env_file=None, lcm_blocklist_file=str(tmp_path / "missing.txt"))
