"""/metrics passes promtool's lint; the Grafana dashboard and alert rules use what it exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.bot.grafana_dashboard import DASHBOARD, layout_problems, schema_problems
from tests.bot.prometheus_conventions import (
    Exported,
    check_promql,
    house_rules,
    lint,
    parse_exposition,
    promlint,
)
from tests.bot.test_bot_observability import free_port, get

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_FILE = ROOT / "deploy" / "grafana" / "lcm-bot-dashboard.json"
ALERTS_FILE = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS_FILE = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
# Figures the dashboard leaves out on purpose; every other lcm_ figure has a panel.
NOT_ON_THE_DASHBOARD = {
    "lcm_bot_guilds": "how many servers is no operating signal",
    "lcm_bot_recovered_jobs": "a figure of the last start, in the log too",
    "lcm_jobs_superseded_total": "coalesced nudge clicks: a product figure, no operating signal",
}


@pytest.fixture
def http_port() -> int:
    return free_port()


@pytest.fixture
def bot_overrides(http_port) -> dict:
    return {"lcm_http_port": http_port}


async def scrape_after_jobs(harness, port: int) -> str:
    """/metrics once jobs have finished and failed, so that the labelled series exist."""
    harness.runner.memory_bytes = lambda: (3_000_000, 5_000_000)  # as a CUDA runner reports it
    double = harness.double
    good = await double.invoke("imagine", {"prompt": "a lighthouse", "seed": 3})
    bad = await double.invoke("imagine", {"prompt": "FAIL on purpose"})
    await good.wait_for_followup(timeout=30)
    await bad.wait_for_original(lambda m: "failed" in (m.content or ""), timeout=30)
    await harness.idle()
    status, _, text = await get(port, "/metrics")
    assert status == 200
    return text


def promtool() -> str:
    """Debian's promtool (package prometheus); CI installs it, so there a missing one fails."""
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("promtool is missing: .ci/run installs it (apt-get install prometheus)")
    pytest.skip("promtool is not installed (Debian: apt-get install prometheus); CI runs this")


async def test_metrics_pass_promtools_lint_and_the_naming_rules(harness, http_port):
    text = await scrape_after_jobs(harness, http_port)
    assert lint(text) == []
    families, _ = parse_exposition(text)
    # The standard collectors: CPU, memory, descriptors, start time of the process; Python's own.
    for name in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "python_info",
        "python_gc_collections_total",
    ):
        assert name in families, name
    assert families["lcm_bot_start_time_seconds"].type == "gauge"
    assert families["lcm_jobs_submitted_total"].type == "counter"
    completed = families["lcm_jobs_completed_total"]
    assert {labels["status"] for _, labels in completed.samples} == {
        "finished",
        "failed",
        "cancelled",
    }


def test_the_lint_finds_what_promtool_finds():
    # promtool 2.42's own words on this text (`promtool check metrics`), plus the newer duplicate
    # check; and the house rules on what issue 17 removed.
    bad = """\
# HELP a_ms x
# TYPE a_ms gauge
a_ms 1
# HELP c_gauge x
# TYPE c_gauge gauge
c_gauge 1
# HELP d_count x
# TYPE d_count gauge
d_count 1
# HELP e x
# TYPE e gauge
e{quantile="1"} 1
# HELP f x
# TYPE f gauge
f{a="1"} 1
f{a="1"} 2
# HELP g x
# TYPE g gauge
g{fooBar="1"} 1
# HELP h_kilobytes x
# TYPE h_kilobytes gauge
h_kilobytes 1
# HELP l_bits_total x
# TYPE l_bits_total counter
l_bits_total 1
# HELP foo_milliseconds x
# TYPE foo_milliseconds counter
foo_milliseconds 1
# TYPE barRate gauge
barRate 1
# HELP a:b y
# TYPE a:b gauge
a:b 1
# HELP x_total y
# TYPE x_total gauge
x_total{le="1"} 1
"""
    families, errors = parse_exposition(bad)
    assert errors == []
    assert sorted(promlint(families)) == [
        "a:b metric names should not contain ':'",
        "a_ms metric names should not contain abbreviated units",
        "barRate metric names should be written in 'snake_case' not 'camelCase'",
        "barRate no help text",
        "c_gauge metric name should not include type 'gauge'",
        'd_count non-histogram and non-summary metrics should not have "_count" suffix',
        'e non-summary metrics should not have "quantile" label',
        "f metric not unique",
        'foo_milliseconds counter metrics should have "_total" suffix',
        'foo_milliseconds use base unit "seconds" instead of "milliseconds"',
        "g label names should be written in 'snake_case' not 'camelCase'",
        'h_kilobytes use base unit "bytes" instead of "kilobytes"',
        'l_bits_total use base unit "bytes" instead of "bits"',
        'x_total non-counter metrics should not have "_total" suffix',
        'x_total non-histogram metrics should not have "le" label',
    ]
    old = parse_exposition(
        "# HELP lcm_images_per_second x\n# TYPE lcm_images_per_second gauge\n"
        "lcm_images_per_second 1\n# HELP lcm_bot_uptime_seconds x\n"
        "# TYPE lcm_bot_uptime_seconds gauge\nlcm_bot_uptime_seconds 1\n"
        "# HELP gpu_busy_percent x\n# TYPE gpu_busy_percent gauge\ngpu_busy_percent 1\n"
    )[0]
    assert house_rules(old) == [
        "lcm_images_per_second exports a derived figure (per_second): leave it to PromQL",
        "lcm_bot_uptime_seconds exports a derived figure (uptime): leave it to PromQL",
        "gpu_busy_percent is a percentage: export a ratio (0 to 1) named _ratio",
        "gpu_busy_percent has neither the lcm_ prefix nor a standard collector's",
    ]
    second = "# HELP a x\n# TYPE a gauge\na 1\n# HELP a x\n# TYPE a gauge\na 2\n"
    assert parse_exposition(second)[1] == [
        "line 4: second HELP line for metric name 'a'",
        "line 5: second TYPE line for metric name 'a'",
    ]


def dashboard_as_rules(directory: Path) -> Path:
    """The dashboard's queries as recording rules, Grafana's variables filled in, for promtool."""
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    values = {"$__rate_interval": "5m", "$__interval": "1m", "$instance": ".*"}
    rules = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in values.items():
                expr = expr.replace(variable, value)
            rules.append(
                {"record": f"dashboard:panel{panel['id']}:{target['refId']}", "expr": expr}
            )
    path = directory / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    return path


async def test_promtool_accepts_the_metrics_the_rules_and_the_alert_tests(
    harness, http_port, tmp_path
):
    tool = promtool()
    text = await scrape_after_jobs(harness, http_port)
    for command, stdin in (
        (["check", "metrics"], text),
        (["check", "rules", str(ALERTS_FILE)], None),
        (["test", "rules", str(ALERT_TESTS_FILE)], None),
        (["check", "rules", str(dashboard_as_rules(tmp_path))], None),  # PromQL syntax
    ):
        done = subprocess.run(
            [tool, *command], input=stdin, capture_output=True, text=True, cwd=ALERTS_FILE.parent
        )
        assert done.returncode == 0, (command, done.stdout + done.stderr)


def test_promtool_really_checks(tmp_path):
    tool = promtool()
    done = subprocess.run(
        [tool, "check", "metrics"],
        input="# HELP lcm_uptime_ms x\n# TYPE lcm_uptime_ms counter\nlcm_uptime_ms 1\n",
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and '"_total" suffix' in done.stdout + done.stderr
    broken = tmp_path / "alerts.yml"
    broken.write_text(ALERTS_FILE.read_text().replace("deriv(", "derive(", 1))
    done = subprocess.run([tool, "check", "rules", str(broken)], capture_output=True, text=True)
    assert done.returncode != 0 and "derive" in done.stdout + done.stderr


async def test_the_dashboard_is_grafanas_model_and_queries_what_metrics_exports(harness, http_port):
    text = await scrape_after_jobs(harness, http_port)
    exported = Exported.from_text(text)
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    assert schema_problems(dashboard, DASHBOARD) == []
    assert layout_problems(dashboard) == []

    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    instances = re.fullmatch(r"label_values\((\w+), instance\)", variables["instance"]["query"])
    assert instances and instances.group(1) in exported.names

    problems, queries = [], []
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            problems += [f"{panel['title']}: {p}" for p in check_promql(target["expr"], exported)]
            queries.append(target["expr"])
    assert problems == []
    # Every figure of the bot's own is on the dashboard, or left out on purpose.
    families, _ = parse_exposition(text)
    missing = {
        family.name
        for family in families.values()
        if family.name.startswith("lcm_")
        and not family.name.endswith("_created")
        and not any(re.search(rf"\b{name}\b", q) for name in family.sample_names() for q in queries)
    }
    assert missing == set(NOT_ON_THE_DASHBOARD)


async def test_the_alert_rules_cover_the_operators_cases_with_exported_metrics(harness, http_port):
    exported = Exported.from_text(await scrape_after_jobs(harness, http_port))
    document = yaml.safe_load(ALERTS_FILE.read_text())
    assert set(document) == {"groups"}
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert all(set(group) == {"name", "rules"} for group in document["groups"])

    problems = []
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"LcmBot[A-Z][A-Za-z]+", rule["alert"]), rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert set(rule["annotations"]) == {"summary", "description"}
        problems += [f"{rule['alert']}: {p}" for p in check_promql(rule["expr"], exported)]
    assert problems == []
    by_name = {rule["alert"]: rule for rule in rules}
    assert len(by_name) == len(rules), "alert names are unique"

    # The three the operator asked for, on the figures that say so.
    assert "lcm_bot_engine_running == 0" in by_name["LcmBotEngineNotRunning"]["expr"]
    assert "deriv(lcm_queue_depth" in by_name["LcmBotQueueGrowing"]["expr"]
    assert "increase(lcm_images_total[10m]) == 0" in by_name["LcmBotNoImages"]["expr"]


def test_the_promql_check_finds_renamed_metrics_labels_and_functions():
    text = (
        "# HELP lcm_jobs_completed_total x\n# TYPE lcm_jobs_completed_total counter\n"
        'lcm_jobs_completed_total{status="failed"} 1\n'
        "# HELP lcm_job_wait_seconds x\n# TYPE lcm_job_wait_seconds histogram\n"
        'lcm_job_wait_seconds_bucket{le="+Inf"} 1\nlcm_job_wait_seconds_sum 1\n'
        "lcm_job_wait_seconds_count 1\n"
    )
    exported = Exported.from_text(text)
    good = (
        'sum by (instance, status) (rate(lcm_jobs_completed_total{status="failed",'
        ' instance=~"${instance}"}[$__rate_interval])) + histogram_quantile(0.95, sum by (le)'
        " (rate(lcm_job_wait_seconds_bucket[5m]))) and on() up == 1"
    )
    assert check_promql(good, exported) == []
    assert check_promql("rate(lcm_jobs_total[5m])", exported) == ["lcm_jobs_total is not exported"]
    assert check_promql('lcm_jobs_completed_total{state="failed"}', exported) == [
        "lcm_jobs_completed_total has no label 'state' (it has ['status'])"
    ]
    assert check_promql('lcm_jobs_completed_total{status="faild"}', exported) == [
        "lcm_jobs_completed_total{status='faild'} matches no series"
    ]
    assert check_promql("sum by (state) (lcm_jobs_completed_total)", exported) == [
        "grouping by 'state', a label none of ['lcm_jobs_completed_total'] has"
    ]
    assert check_promql("rat(lcm_jobs_completed_total[5m])", exported) == [
        "rat() is not a PromQL function"
    ]
