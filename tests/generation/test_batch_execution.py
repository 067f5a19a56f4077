"""BatchExecutor on the real tiny pipelines: a cancelled job is dropped, never run again."""

from __future__ import annotations

from dataclasses import replace

import pytest

from generation.engine.batch_execution import BatchExecutor
from generation.modes.requests import validate_request
from tests.generation.engine_helpers import FaultyRunner, spec


@pytest.fixture
def runner(tiny_pipelines):
    return FaultyRunner(tiny_pipelines)


def specs(family, *jobs: tuple[str, str]) -> list:
    """Validated specs, as the engine hands them to the executor."""
    made = [spec(job_id, prompt) for job_id, prompt in jobs]
    return [replace(s, request=validate_request(s.request, family)) for s in made]


def execute(runner, batch, cancelled) -> tuple[dict, list]:
    reports: list[tuple[list[str], int]] = []
    outcomes = BatchExecutor(runner, job_timeout_s=60).execute(
        batch,
        report=lambda ids, step, total: reports.append((list(ids), step)),
        cancelled=cancelled,
    )
    return outcomes, reports


def test_a_job_cancelled_before_its_call_is_left_out_of_it(runner, tiny_family):
    batch = specs(tiny_family, ("A1", "victim"), ("B1", "keeper"))
    outcomes, reports = execute(runner, batch, cancelled=lambda job_id: job_id == "A1")
    assert runner.calls == [["keeper"]]
    assert outcomes["A1"].cancelled and outcomes["A1"].result is None
    assert outcomes["B1"].result is not None
    assert {tuple(ids) for ids, _ in reports} == {("B1",)}


def test_a_job_cancelled_mid_call_loses_its_output_and_stops_getting_progress(runner, tiny_family):
    batch = specs(tiny_family, ("A1", "victim"), ("B1", "keeper"))
    # A1 is cancelled once the call has made its first step.
    outcomes, reports = execute(
        runner, batch, cancelled=lambda job_id: job_id == "A1" and bool(runner.steps)
    )
    assert runner.calls == [["victim", "keeper"]], "one call, not restarted"
    assert outcomes["A1"].cancelled and outcomes["A1"].result is None
    assert outcomes["B1"].result is not None
    assert reports == [(["B1"], 1), (["B1"], 2)]


def test_a_job_cancelled_during_a_failed_call_is_not_retried_alone(runner, tiny_family):
    batch = specs(tiny_family, ("A1", "victim"), ("B1", "FAIL"), ("C1", "good"))
    outcomes, _ = execute(
        runner, batch, cancelled=lambda job_id: job_id == "A1" and bool(runner.calls)
    )
    assert runner.calls == [["victim", "FAIL", "good"], ["FAIL"], ["good"]]
    assert outcomes["A1"].cancelled
    assert "injected failure" in outcomes["B1"].reason
    assert outcomes["C1"].result is not None


def test_a_job_cancelled_during_an_out_of_memory_call_is_left_out_of_the_halves(
    runner, tiny_family
):
    batch = specs(tiny_family, *((f"{u}1", f"OOM {u}") for u in "ABCD"))
    outcomes, _ = execute(
        runner, batch, cancelled=lambda job_id: job_id == "A1" and bool(runner.calls)
    )
    assert runner.calls == [["OOM A", "OOM B", "OOM C", "OOM D"], ["OOM B"], ["OOM C", "OOM D"]]
    assert outcomes["A1"].cancelled
    assert all(outcomes[f"{u}1"].result is not None for u in "BCD")
