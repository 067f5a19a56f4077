"""The GPU script's runner: every step in its own process, killed at its box, within the budget."""

from __future__ import annotations

import json
import time

from bench.gpu_checks import GPU_BUDGET_S, Step, gpu_plan, run_plan

PLAN = "tests.bench.test_gpu_checks:selftest_plan"


def _quick(progress):
    progress["answer"] = 42
    return {"answer": 42}


def _hangs(progress):
    progress["before-the-hang"] = "kept"
    time.sleep(600)


def _fails(progress):
    progress["first"] = 1
    raise RuntimeError("a step that breaks")


def selftest_plan(out):
    """Run in the child processes too: they find their step in this same plan."""
    return [
        Step("quick", 60, _quick),
        Step("hangs", 4, _hangs),
        Step("fails", 60, _fails),
        Step("too-big", 1000, _quick),
        Step("rest", None, _quick),
    ]


def test_steps_are_boxed_isolated_and_keep_what_they_measured(tmp_path):
    started = time.monotonic()
    report = run_plan(PLAN, tmp_path, budget_s=200)
    elapsed = time.monotonic() - started
    steps = report["steps"]
    assert steps["quick"]["ok"] is True and steps["quick"]["result"] == {"answer": 42}
    hung = steps["hangs"]
    assert hung["ok"] is False and "killed at its 4 s box" in hung["error"]
    assert hung["partial"] == {"before-the-hang": "kept"}
    assert 4 <= hung["seconds"] < 15
    assert steps["fails"]["ok"] is False and "a step that breaks" in steps["fails"]["error"]
    assert steps["fails"]["partial"] == {"first": 1}
    assert "skipped" in steps["too-big"], "a 1000 s box does not fit a 200 s budget"
    assert steps["rest"]["ok"] is True and steps["rest"]["box_s"] > 100, "the rest of the budget"
    assert json.loads((tmp_path / "gpu-checks.json").read_text())["steps"].keys() == steps.keys()
    assert elapsed < 60


def test_the_gpu_plan_fits_eight_minutes_and_measures_both_families(tmp_path):
    plan = gpu_plan(tmp_path)
    boxed = [step.box_s for step in plan if step.box_s is not None]
    assert sum(boxed) <= GPU_BUDGET_S < 8 * 60 - 10, "room for the process starts"
    assert [step.box_s for step in plan].count(None) == 1 and plan[-1].box_s is None
    names = [step.name for step in plan]
    assert {"modes-sd15", "modes-sdxl", "oom-recovery-sd15"} <= set(names)
    assert names.index("build-sd15") < names.index("modes-sd15")
    assert names.index("build-sdxl") < names.index("modes-sdxl")


def test_the_smoke_plan_covers_every_family_it_claims(tmp_path):
    from bench.gpu_checks import smoke_plan
    from generation.models.families import HUB_FAMILIES

    plan = {step.name: step for step in smoke_plan(tmp_path)}
    assert {"modes-tiny", "modes-tiny-xl", "controls-sd15-full-size"} <= set(plan)
    assert {f"hub-{name}" for name in HUB_FAMILIES} <= set(plan)
    for name in HUB_FAMILIES:
        env = plan[f"hub-{name}"].env
        assert env == {"HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "1"}
    names = list(plan)
    assert names.index("build-sd15") < names.index("controls-sd15-full-size")
    assert names.index("build-hub-faithful") < min(names.index(f"hub-{n}") for n in HUB_FAMILIES)


def test_the_exploration_step_runs_on_the_tiny_family(tmp_path, tiny_pipelines):
    """The GPU step for nudges and sheets (exploration-sd15), smoked on the tiny family."""
    import torch

    from bench.gpu_checks import Progress, exploration, smoke_plan

    assert "exploration-sd15" in [step.name for step in gpu_plan(tmp_path)]
    assert "exploration-tiny" in [step.name for step in smoke_plan(tmp_path)]
    progress = Progress(tmp_path / "exploration.json")
    # One torch thread, as the smoke runs on a shared 2-core box (bench/README.md): two threads
    # spin-waiting for a busy core made this step minutes long.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        family = tiny_pipelines.family
        data = exploration(progress, family, 64, smoke=True, pipes=tiny_pipelines)
    finally:
        torch.set_num_threads(threads)
    burst = data["five_quick_clicks"]
    assert burst["renders"] <= 2 and burst["renders"] + burst["superseded"] == 5
    assert data["nudge_click_to_png"]["samples"] == 3 and data["sheet"]["cells"] == 4
    sheet = data["sheet"]
    assert 0 < sheet["first_cell_ms"] <= sheet["all_cells_ms"]
    assert sheet["all_cells_ms"] <= sheet["complete_with_labelled_sheet_ms"]
    assert json.loads(progress.path.read_text())["partial"] == data
