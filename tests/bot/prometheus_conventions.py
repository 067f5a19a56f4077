"""promtool's metric lint and the house naming rules in Python; the metric names PromQL uses."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# promtool check metrics = client_golang's promlint; its rule tables, as of Prometheus 2.4x.
BASE_UNITS = {
    **{unit: unit for unit in ("amperes", "bytes", "celsius", "grams", "joules", "kelvin")},
    **{unit: unit for unit in ("meters", "metres", "seconds", "volts")},
    **{unit: "seconds" for unit in ("minutes", "hours", "days", "weeks")},
    "kelvins": "kelvin",
    "fahrenheit": "celsius",
    "rankine": "celsius",
    **{unit: "meters" for unit in ("inches", "yards", "miles")},
    "bits": "bytes",
    "calories": "joules",
    "pounds": "grams",
    "ounces": "grams",
}
UNIT_PREFIXES = _words(
    "pico nano micro milli centi deci deca hecto kilo kibi mega mibi giga gibi tera tebi peta pebi"
)
UNIT_ABBREVIATIONS = (
    "s",
    "ms",
    "us",
    "ns",
    "sec",
    "b",
    "kb",
    "mb",
    "gb",
    "tb",
    "pb",
    "m",
    "h",
    "d",
)
METRIC_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")

# The standard collectors' prefixes; everything else the bot exports is its own and says so.
STANDARD_PREFIXES = ("process_", "python_")
OWN_PREFIX = "lcm_"
# A rate or an uptime is PromQL's job (rate(), time() - start): names that suggest one.
DERIVED_WORDS = ("per_second", "per_minute", "per_hour", "per_s", "rate", "uptime")

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})?\s+\S+(?:\s+\S+)?$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass
class Family:
    """One metric family as promtool's text parser groups it: TYPE/HELP name, samples under it."""

    name: str
    type: str = "untyped"
    help: str | None = None
    samples: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def sample_names(self) -> set[str]:
        """Every series name PromQL may use for this family, with or without samples yet."""
        if self.type == "histogram":
            return {f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count"}
        if self.type == "summary":
            return {self.name, f"{self.name}_sum", f"{self.name}_count"}
        return {self.name}


def parse_exposition(text: str) -> tuple[dict[str, Family], list[str]]:
    """Families by name, and the format errors promtool's parser would stop at."""
    list(text_string_to_metric_families(text))  # raises on what the Python client cannot read
    families: dict[str, Family] = {}
    errors: list[str] = []
    seen: dict[str, set[str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                keyword, name = parts[1], parts[2]
                if keyword in seen.setdefault(name, set()):
                    errors.append(f"line {number}: second {keyword} line for metric name {name!r}")
                seen[name].add(keyword)
                family = families.setdefault(name, Family(name))
                if keyword == "HELP":
                    family.help = parts[3] if len(parts) == 4 else ""
                else:
                    family.type = parts[3].strip() if len(parts) == 4 else ""
            continue
        match = _SAMPLE.match(line)
        if not match:
            errors.append(f"line {number}: not a sample: {line!r}")
            continue
        name, label_text = match.group(1), match.group(2) or ""
        labels = dict(_LABEL.findall(label_text))
        families.setdefault(_family_of(name, families), Family(name)).samples.append((name, labels))
    return families, errors


def _family_of(sample: str, families: dict[str, Family]) -> str:
    if sample in families:
        return sample
    for suffix, types in (("_bucket", ("histogram",)), ("_sum", ("histogram", "summary"))):
        base = sample.removesuffix(suffix)
        if base != sample and families.get(base, Family(base)).type in types:
            return base
    base = sample.removesuffix("_count")
    if base != sample and families.get(base, Family(base)).type in ("histogram", "summary"):
        return base
    return sample


def promlint(families: dict[str, Family]) -> list[str]:
    """promtool check metrics' problems, worded as promtool words them."""
    problems = []
    for name, family in families.items():
        found: list[str] = []
        kind = family.type
        if not family.help:
            found.append("no help text")
        if kind not in METRIC_TYPES:
            found.append(f"unknown metric type {kind!r}")
        lowered = name.lower()
        unit, base = _unit_in(name)
        if unit != base:
            found.append(f'use base unit "{base}" instead of "{unit}"')
        if kind == "counter" and not name.endswith("_total"):
            found.append('counter metrics should have "_total" suffix')
        if kind not in ("counter", "untyped") and name.endswith("_total"):
            found.append('non-counter metrics should not have "_total" suffix')
        if kind != "untyped":
            if kind != "histogram" and name.endswith("_bucket"):
                found.append('non-histogram metrics should not have "_bucket" suffix')
            for suffix in ("_count", "_sum"):
                if kind not in ("histogram", "summary") and name.endswith(suffix):
                    found.append(
                        f'non-histogram and non-summary metrics should not have "{suffix}" suffix'
                    )
            if f"_{kind}_" in lowered or lowered.endswith(f"_{kind}"):
                found.append(f"metric name should not include type '{kind}'")
        labels = {label for _, sample_labels in family.samples for label in sample_labels}
        if kind not in ("histogram", "untyped") and "le" in labels:
            found.append('non-histogram metrics should not have "le" label')
        if kind not in ("summary", "untyped") and "quantile" in labels:
            found.append('non-summary metrics should not have "quantile" label')
        if ":" in name:
            found.append("metric names should not contain ':'")
        if re.search("[a-z][A-Z]", name):
            found.append("metric names should be written in 'snake_case' not 'camelCase'")
        if any(re.search("[a-z][A-Z]", label) for label in labels):
            found.append("label names should be written in 'snake_case' not 'camelCase'")
        if any(
            f"_{short}_" in lowered or lowered.endswith(f"_{short}") for short in UNIT_ABBREVIATIONS
        ):
            found.append("metric names should not contain abbreviated units")
        series = Counter(
            (sample, tuple(sorted(labels.items()))) for sample, labels in family.samples
        )
        if any(count > 1 for count in series.values()):
            found.append("metric not unique")
        problems += [f"{name} {problem}" for problem in found]
    return problems


def _unit_in(name: str) -> tuple[str | None, str | None]:
    """The first unit word in a name and its base unit, as promlint finds them (prefixes too)."""
    for word in name.split("_"):
        if word in BASE_UNITS:
            return word, BASE_UNITS[word]
        for prefix in UNIT_PREFIXES:
            if word.startswith(prefix) and word[len(prefix) :] in BASE_UNITS:
                return word, BASE_UNITS[word[len(prefix) :]]
    return None, None


def house_rules(families: dict[str, Family]) -> list[str]:
    """Naming-page rules promlint leaves out, and issue 17's: no rates, no uptime, a prefix."""
    problems = []
    for name in families:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            problems.append(f"{name} is not lower snake_case")
        if "percent" in name:
            problems.append(f"{name} is a percentage: export a ratio (0 to 1) named _ratio")
        words = name.split("_")
        for derived in DERIVED_WORDS:
            if f"_{derived}_" in f"_{name}_" or derived in words:
                problems.append(f"{name} exports a derived figure ({derived}): leave it to PromQL")
        if not name.startswith((OWN_PREFIX, *STANDARD_PREFIXES)):
            problems.append(
                f"{name} has neither the {OWN_PREFIX} prefix nor a standard collector's"
            )
    return problems


def lint(text: str) -> list[str]:
    """Everything wrong with an exposition, empty when promtool and the house rules accept it."""
    families, errors = parse_exposition(text)
    return errors + promlint(families) + house_rules(families)


# ------------------------------------------------------------------ PromQL

PROMQL_FUNCTIONS = set(
    _words("""
    abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp
    clamp_max clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month
    deg delta deriv exp floor histogram_avg histogram_count histogram_fraction histogram_quantile
    histogram_stddev histogram_stdvar histogram_sum holt_winters hour idelta increase irate
    label_join label_replace last_over_time ln log10 log2 mad_over_time max_over_time
    min_over_time minute month pi predict_linear present_over_time quantile_over_time rad rate
    resets round scalar sgn sin sinh sort sort_by_label sort_by_label_desc sort_desc sqrt
    stddev_over_time stdvar_over_time sum_over_time tan tanh time timestamp vector year
    """)
)
PROMQL_AGGREGATIONS = set(
    _words("sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk")
)
PROMQL_KEYWORDS = set(
    _words("and or unless bool offset by without on ignoring group_left group_right inf nan atan2")
)
# Series Prometheus itself adds for every target, and the labels it adds to every series.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
TARGET_LABELS = {"instance", "job"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(rf'({_NAME})?\s*\{{((?:[^{{}}"]|"(?:[^"\\]|\\.)*")*)\}}')
_MATCHER = re.compile(rf'\s*({_NAME})\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*,?')
_WORD = re.compile(rf"(?<![\w.$:]){_NAME}")


@dataclass
class Exported:
    """What a scrape of /metrics offers PromQL: series names, their labels and label values."""

    names: set[str]
    labels: dict[str, dict[str, set[str]]]

    @classmethod
    def from_text(cls, text: str) -> Exported:
        families, _ = parse_exposition(text)
        labels: dict[str, dict[str, set[str]]] = {}
        for family in families.values():
            for sample, sample_labels in family.samples:
                labels.setdefault(sample, {})  # a series without labels still has samples
                for label, value in sample_labels.items():
                    labels.setdefault(sample, {}).setdefault(label, set()).add(value)
        names = set().union(*(family.sample_names() for family in families.values()))
        return cls(names | SCRAPE_SERIES, labels)


def check_promql(expr: str, exported: Exported) -> list[str]:
    """Problems with the names in one PromQL expression: unknown series, functions, labels, values.

    Not a parser: a syntax check is promtool's (check rules). This finds what a parser accepts
    and a scrape never matches: a renamed metric, a misspelt label or status, a made-up function.
    """
    problems = []
    code = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries: durations, $__rate_interval
    for metric, matchers in _SELECTOR.findall(code):
        for label, operator, quoted in _MATCHER.findall(matchers):
            value = quoted[1:-1]
            if label == "__name__":
                continue
            if metric not in exported.labels:
                continue  # no series yet (a counter nothing has counted): its labels are unknown
            known = exported.labels[metric]
            if label not in known and label not in TARGET_LABELS:
                problems.append(f"{metric} has no label {label!r} (it has {sorted(known)})")
            elif operator == "=" and "$" not in value and value not in known.get(label, {value}):
                problems.append(f"{metric}{{{label}={value!r}}} matches no series")
    used = {metric for metric, _ in _SELECTOR.findall(code) if metric}
    code = _SELECTOR.sub(lambda match: f" {match.group(1) or ''} ", code)
    code = _STRING.sub(" ", code)
    grouping = set()
    for _, labels in _GROUPING.findall(code):
        grouping |= {label.strip() for label in labels.split(",") if label.strip()}
    code = _GROUPING.sub(" ", code)
    for match in _WORD.finditer(code):
        word = match.group()
        called = code[match.end() :].lstrip().startswith("(")
        if called:
            if word not in PROMQL_FUNCTIONS | PROMQL_AGGREGATIONS:
                problems.append(f"{word}() is not a PromQL function")
        elif word not in PROMQL_KEYWORDS:
            used.add(word)
    for metric in sorted(used - exported.names):
        problems.append(f"{metric} is not exported")
    if any(metric not in exported.labels for metric in used & exported.names - SCRAPE_SERIES):
        return problems  # a series without samples yet: its labels are unknown
    seen = set(TARGET_LABELS) | {"le"}
    for metric in used:
        seen |= set(exported.labels.get(metric, {}))
    for label in sorted(grouping - seen):
        problems.append(f"grouping by {label!r}, a label none of {sorted(used)} has")
    return problems
