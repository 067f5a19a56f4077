"""Grafana's dashboard model (schema v1) as a validator, and the grid its panels lay out on."""

from __future__ import annotations

from typing import Any

# The definitions of Grafana's dashboard JSON schema (kinds/dashboard, schemaVersion 36 and up) that
# a provisioned dashboard uses, in a small JSON-Schema subset: type, required, properties,
# closed objects (Grafana's schema forbids unknown keys), enum, const, items, any_of, bounds.
# One departure, as Grafana's own CUE schema has it: a threshold's value may be null (-Infinity).
STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
STRINGS = {"type": "array", "items": STRING}
ANY_OBJECT = {"type": "object"}


def closed(required: tuple[str, ...] = (), **properties: Any) -> dict:
    return {"type": "object", "required": required, "properties": properties, "closed": True}


DATASOURCE_REF = closed(type=STRING, uid=STRING)
GRID_POS = closed(
    ("h", "w", "x", "y"),
    h={"type": "integer", "above": 0},
    w={"type": "integer", "above": 0, "maximum": 24},
    x={"type": "integer", "minimum": 0, "below": 24},
    y={"type": "integer", "minimum": 0},
    static=BOOLEAN,
)
MAPPING_RESULT = closed(text=STRING, color=STRING, icon=STRING, index=INTEGER)
VALUE_MAPPING = {
    "any_of": [
        closed(
            ("type", "options"),
            type={"const": "value"},
            options={"type": "object", "values": MAPPING_RESULT},
        ),
        closed(
            ("type", "options"),
            type={"const": "range"},
            options=closed(
                ("from", "to", "result"), to=NUMBER, result=MAPPING_RESULT, **{"from": NUMBER}
            ),
        ),
        closed(
            ("type", "options"),
            type={"const": "regex"},
            options=closed(("pattern", "result"), pattern=STRING, result=MAPPING_RESULT),
        ),
        closed(
            ("type", "options"),
            type={"const": "special"},
            options=closed(
                ("match", "result"),
                match={"enum": ["true", "false", "null", "nan", "null+nan", "empty"]},
                result=MAPPING_RESULT,
            ),
        ),
    ]
}
COLOR_MODES = [
    *("thresholds", "palette-classic", "palette-classic-by-name", "fixed", "shades"),
    *(f"continuous-{scheme}" for scheme in ("GrYlRd", "RdYlGr", "BlYlRd", "YlRd", "BlPu", "YlBl")),
    *(f"continuous-{scheme}" for scheme in ("blues", "reds", "greens", "purples")),
]
FIELD_CONFIG = closed(
    displayName=STRING,
    displayNameFromDS=STRING,
    description=STRING,
    path=STRING,
    writeable=BOOLEAN,
    filterable=BOOLEAN,
    unit=STRING,
    decimals=NUMBER,
    min=NUMBER,
    max=NUMBER,
    mappings={"type": "array", "items": VALUE_MAPPING},
    thresholds=closed(
        ("mode", "steps"),
        mode={"enum": ["absolute", "percentage"]},
        steps={
            "type": "array",
            "items": closed(
                ("value", "color"), value={"type": "number", "null": True}, color=STRING
            ),
        },
    ),
    color=closed(
        ("mode",),
        mode={"enum": COLOR_MODES},
        fixedColor=STRING,
        seriesBy={"enum": ["min", "max", "last"]},
    ),
    links={"type": "array", "items": ANY_OBJECT},
    noValue=STRING,
    custom=ANY_OBJECT,
)
MATCHER = closed(("id",), id=STRING, options=ANY_OBJECT)
FIELD_CONFIG_SOURCE = closed(
    ("defaults", "overrides"),
    defaults=FIELD_CONFIG,
    overrides={
        "type": "array",
        "items": closed(
            ("matcher", "properties"),
            matcher=MATCHER,
            properties={"type": "array", "items": closed(("id",), id=STRING, value={})},
        ),
    },
)
DASHBOARD_LINK = closed(
    (
        "title",
        "type",
        "icon",
        "tooltip",
        "tags",
        "asDropdown",
        "targetBlank",
        "includeVars",
        "keepTime",
    ),
    title=STRING,
    type={"enum": ["link", "dashboards"]},
    icon=STRING,
    tooltip=STRING,
    url=STRING,
    tags=STRINGS,
    asDropdown=BOOLEAN,
    targetBlank=BOOLEAN,
    includeVars=BOOLEAN,
    keepTime=BOOLEAN,
)
PANEL = closed(
    ("type",),
    type={"type": "string", "min_length": 1},
    id=INTEGER,
    pluginVersion=STRING,
    tags=STRINGS,
    targets={"type": "array", "items": ANY_OBJECT},
    title=STRING,
    description=STRING,
    transparent=BOOLEAN,
    datasource=DATASOURCE_REF,
    gridPos=GRID_POS,
    links={"type": "array", "items": DASHBOARD_LINK},
    repeat=STRING,
    repeatDirection={"enum": ["h", "v"]},
    maxPerRow=NUMBER,
    maxDataPoints=NUMBER,
    transformations={
        "type": "array",
        "items": closed(
            ("id", "options"), id=STRING, disabled=BOOLEAN, filter=MATCHER, options=ANY_OBJECT
        ),
    },
    interval=STRING,
    timeFrom=STRING,
    timeShift=STRING,
    hideTimeOverride=BOOLEAN,
    libraryPanel=closed(("name", "uid"), name=STRING, uid=STRING),
    options=ANY_OBJECT,
    fieldConfig=FIELD_CONFIG_SOURCE,
)
ROW_PANEL = closed(
    ("type", "collapsed", "id", "panels"),
    type={"const": "row"},
    collapsed=BOOLEAN,
    title=STRING,
    datasource=DATASOURCE_REF,
    gridPos=GRID_POS,
    id=INTEGER,
    panels={"type": "array", "items": PANEL},
    repeat=STRING,
)
VARIABLE_OPTION = closed(
    ("text", "value"),
    selected=BOOLEAN,
    text={"any_of": [STRING, STRINGS]},
    value={"any_of": [STRING, STRINGS]},
)
VARIABLE = closed(
    ("type", "name"),
    type={
        "enum": [
            "query",
            "adhoc",
            "constant",
            "datasource",
            "interval",
            "textbox",
            "custom",
            "system",
        ]
    },
    name=STRING,
    label=STRING,
    hide={"enum": [0, 1, 2]},
    skipUrlSync=BOOLEAN,
    description=STRING,
    query={"any_of": [STRING, ANY_OBJECT]},
    datasource=DATASOURCE_REF,
    current=VARIABLE_OPTION,
    multi=BOOLEAN,
    options={"type": "array", "items": VARIABLE_OPTION},
    refresh={"enum": [0, 1, 2]},
    sort={"enum": list(range(9))},
    includeAll=BOOLEAN,
    allValue=STRING,
    regex=STRING,
)
ANNOTATION = closed(
    ("name", "datasource", "enable", "iconColor"),
    name=STRING,
    datasource=DATASOURCE_REF,
    enable=BOOLEAN,
    hide=BOOLEAN,
    iconColor=STRING,
    filter=closed(("ids",), exclude=BOOLEAN, ids={"type": "array", "items": INTEGER}),
    target=closed(
        ("limit", "matchAny", "tags", "type"),
        limit=INTEGER,
        matchAny=BOOLEAN,
        tags=STRINGS,
        type=STRING,
    ),
    type=STRING,
    builtIn=NUMBER,
)
DASHBOARD = closed(
    ("schemaVersion", "templating", "annotations"),
    id=INTEGER,
    uid={"type": "string", "min_length": 8, "max_length": 40},
    title=STRING,
    description=STRING,
    revision=INTEGER,
    gnetId=STRING,
    tags=STRINGS,
    timezone=STRING,
    editable=BOOLEAN,
    graphTooltip={"enum": [0, 1, 2]},
    time=closed(("from", "to"), to=STRING, **{"from": STRING}),
    timepicker=closed(
        ("hidden", "refresh_intervals", "time_options"),
        hidden=BOOLEAN,
        refresh_intervals=STRINGS,
        time_options=STRINGS,
    ),
    fiscalYearStartMonth={"type": "integer", "minimum": 0, "below": 12},
    liveNow=BOOLEAN,
    weekStart=STRING,
    refresh={"any_of": [STRING, {"const": False}]},
    schemaVersion=INTEGER,
    version=INTEGER,
    panels={"type": "array", "items": {"any_of": [ROW_PANEL, PANEL]}},
    templating=closed(list={"type": "array", "items": VARIABLE}),
    annotations=closed(list={"type": "array", "items": ANNOTATION}),
    links={"type": "array", "items": DASHBOARD_LINK},
)

_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def schema_problems(value: Any, schema: dict, where: str = "dashboard") -> list[str]:
    """Where ``value`` breaks ``schema``: one line per problem, empty when it conforms."""
    if "any_of" in schema:
        # The closest shape's problems: a row panel is judged as a row, a graph as a panel.
        return min((schema_problems(value, option, where) for option in schema["any_of"]), key=len)
    if "const" in schema:
        return [] if value == schema["const"] else [f"{where}: must be {schema['const']!r}"]
    if "enum" in schema:
        return [] if value in schema["enum"] else [f"{where}: {value!r} not in {schema['enum']}"]
    kind = schema.get("type")
    if kind is None:
        return []
    if value is None and schema.get("null"):
        return []
    # JSON has no separate bool: true is not an integer here, as in JSON Schema.
    if not isinstance(value, _TYPES[kind]) or (isinstance(value, bool) and kind != "boolean"):
        return [f"{where}: {value!r} is not a {kind}"]
    problems = []
    for bound, holds in (
        ("minimum", lambda limit: value >= limit),
        ("maximum", lambda limit: value <= limit),
        ("above", lambda limit: value > limit),
        ("below", lambda limit: value < limit),
        ("min_length", lambda limit: len(value) >= limit),
        ("max_length", lambda limit: len(value) <= limit),
    ):
        if bound in schema and not holds(schema[bound]):
            problems.append(f"{where}: {value!r} breaks {bound} {schema[bound]}")
    if kind == "array":
        for index, item in enumerate(value):
            problems += schema_problems(item, schema.get("items", {}), f"{where}[{index}]")
    if kind == "object":
        properties = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in value:
                problems.append(f"{where}: {key!r} is required")
        for key, item in value.items():
            if key in properties:
                problems += schema_problems(item, properties[key], f"{where}.{key}")
            elif "values" in schema:
                problems += schema_problems(item, schema["values"], f"{where}.{key}")
            elif schema.get("closed"):
                problems.append(f"{where}: unknown key {key!r}")
    return problems


def layout_problems(dashboard: dict) -> list[str]:
    """What Grafana quietly rearranges or mixes up: overlaps, overflows, shared ids and refIds."""
    problems = []
    cells: dict[tuple[int, int], str] = {}
    ids: set[int] = set()
    for panel in dashboard.get("panels", []):
        title = panel.get("title", panel.get("type"))
        if panel.get("id") in ids:
            problems.append(f"{title}: panel id {panel['id']} is taken")
        ids.add(panel.get("id"))
        grid = panel["gridPos"]
        if grid["x"] + grid["w"] > 24:
            problems.append(f"{title}: wider than the 24-column grid")
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                if (x, y) in cells:
                    problems.append(f"{title}: overlaps {cells[(x, y)]}")
                    break
                cells[(x, y)] = title
            else:
                continue
            break
        ref_ids = [target.get("refId") for target in panel.get("targets", [])]
        if len(set(ref_ids)) != len(ref_ids) or None in ref_ids:
            problems.append(f"{title}: every target needs its own refId")
    return problems
