"""Prompt blocklist rules: words and RE2 patterns, matched case- and accent-insensitively."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# RE2, not `re`: a server admin's pattern runs against every prompt, and RE2 matches in time
# linear in the prompt whatever the pattern (no backtracking), so no pattern can stall the bot.
import re2

KINDS = ("word", "regex")
MAX_PATTERN_LENGTH = 200  # long enough for an alternation of a dozen words
MAX_RULES = 200  # per server; each prompt is matched against every rule
# RE2 falls back to a slower (still linear) engine when a pattern's automaton outgrows this.
RE2_MAX_MEM = 8 << 20
# What a word may touch and still be "a word": anything but a letter, a digit or "_".
_EDGE = r"[^\pL\pN_]"
_SPACES = r"\s+"
REGEX_SYNTAX = (
    "RE2 syntax (like Python's re without backreferences or lookaround), "
    f"up to {MAX_PATTERN_LENGTH} characters"
)


class BadPattern(ValueError):
    """A rule that cannot be used; the message says what is wrong and what is allowed."""


@dataclass(frozen=True)
class Rule:
    kind: str  # "word" or "regex"
    pattern: str  # as the admin (or the operator's file) wrote it
    source: str = "server"  # where it came from: "server" or the operator file's name

    def describe(self) -> str:
        shown = self.pattern if self.kind == "word" else f"/{self.pattern}/"
        return f"{self.kind} `{shown}` ({self.source})"


def fold(text: str) -> str:
    """Case- and accent-free text: "Éclair" and "eclair" read the same."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.casefold()


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _fold_regex(pattern: str) -> str:
    """A regex folded as the prompt is, where that is sound: accents go everywhere; case is
    RE2's (case_sensitive=False), since casefolding the pattern would turn \\S into \\s; and a
    literal whose fold is longer than one character (ß, ẞ → "ss") becomes that text, in a
    group so a quantifier takes all of it. Quoted text (\\Q…\\E) is folded as text. Inside a
    class ([…], one character) a literal stays as written."""
    text = _strip_accents(pattern)
    out: list[str] = []
    i, in_class = 0, False
    while i < len(text):
        c = text[i]
        if text.startswith(r"\Q", i):
            end = text.find(r"\E", i + 2)
            end = len(text) if end < 0 else end
            out.append(r"\Q" + fold(text[i + 2 : end]) + r"\E")
            i = end + 2
            continue
        if c == "\\":
            out.append(text[i : i + 2])  # an escape with its character, as written
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            # A "]" (or "^]") right after "[" is a literal member, not the class's end.
            for opener in ("[^]", "[]", "[^"):
                if text.startswith(opener, i):
                    out.append(opener)
                    i += len(opener)
                    break
            else:
                out.append(c)
                i += 1
            continue
        elif len(c.casefold()) > 1:
            out.append(f"(?:{re2.escape(c.casefold())})")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # a bad pattern is the admin's typo, answered, not a log line
    options.max_mem = RE2_MAX_MEM
    return options


@lru_cache(maxsize=4096)
def compile_rule(kind: str, pattern: str):
    """The compiled RE2 program of a rule, or BadPattern naming what is wrong."""
    if kind not in KINDS:
        raise BadPattern(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    text = pattern.strip()
    if not text:
        raise BadPattern("the pattern is empty; give a word or a regular expression")
    if len(text) > MAX_PATTERN_LENGTH:
        raise BadPattern(
            f"the pattern is {len(text)} characters long; at most {MAX_PATTERN_LENGTH} are allowed"
        )
    if kind == "word":
        # A phrase matches with any run of spaces between its words.
        phrase = _SPACES.join(re2.escape(word) for word in fold(text).split())
        source = rf"(?:^|{_EDGE}){phrase}(?:{_EDGE}|$)"
    else:
        source = _fold_regex(text)
    try:
        return re2.compile(source, _options())
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise BadPattern(
            f"that regular expression is not valid ({reason}); allowed: {REGEX_SYNTAX}"
        ) from None


class Blocklist:
    """The rules that apply in one server: the operator's and the server's own."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)

    def first_match(self, texts: Iterable[str | None]) -> Rule | None:
        """The first rule any of ``texts`` (prompt, negative prompt, …) matches, or None."""
        folded = [fold(text) for text in texts if text]
        for rule in self.rules:
            program = compile_rule(rule.kind, rule.pattern)
            if any(program.search(text) for text in folded):
                return rule
        return None


def parse_line(line: str, source: str) -> Rule | None:
    """One line of the operator's file: `word or phrase`, `re:PATTERN`, `#` comments."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("re:"):
        rule = Rule("regex", text[3:].strip(), source)
    else:
        rule = Rule("word", text, source)
    compile_rule(rule.kind, rule.pattern)
    return rule


def load_file(path: Path) -> list[Rule]:
    """The operator's blocklist file (LCM_BLOCKLIST_FILE); BadPattern names the bad line."""
    rules = []
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadPattern(f"cannot read the blocklist file {path}: {exc}") from None
    for number, line in enumerate(lines, start=1):
        try:
            rule = parse_line(line, path.name)
        except BadPattern as exc:
            raise BadPattern(f"{path}, line {number}: {exc}") from None
        if rule is not None:
            rules.append(rule)
    return rules


def operator_rules(path: Path | None) -> list[Rule]:
    """LCM_BLOCKLIST_FILE's rules (the settings checked it already); none when it is unset."""
    return load_file(path) if path is not None else []
