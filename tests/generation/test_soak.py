"""A short soak in real worker processes: every job resolves, and nothing grows."""

from __future__ import annotations

import pytest

from tests.generation.soak import soak

pytestmark = pytest.mark.slow


async def test_a_soak_with_cancels_faults_and_a_worker_kill_resolves_every_job_and_leaks_nothing():
    report = await soak(jobs=24, kills=1, cancel_rate=0.15, fault_rate=0.1, seed=3)
    print(f"\nsoak: {report.as_dict()}")
    assert report.unresolved == 0
    assert sum(report.outcomes.values()) == 24
    # The seeded mix really held each kind of ending (else the soak proved less than it says).
    assert {"finished", "failed", "cancelled", "finished after a kill"} <= set(report.outcomes)
    assert report.worker_restarts == 1
    # A killed worker's pipes, process handle and log relay thread are all let go.
    assert (report.after.threads, report.after.fds) == (report.before.threads, report.before.fds)
    assert report.after.workers == report.before.workers
