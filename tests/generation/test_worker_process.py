"""GPU work in worker processes: killed, hung or broken workers are replaced and nothing is lost."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import pytest

from generation.engine import Engine, EngineConfig
from generation.engine.events import JobFailed, JobFinished, JobQueued, JobStarted
from generation.engine.worker_process import ProcessRunner, WorkerSpec
from tests.generation.engine_helpers import spec
from tests.generation.helpers import max_diff
from tests.generation.worker_helpers import build_injecting

pytestmark = pytest.mark.slow


def process_engine(tiny_family, *, heartbeat_s: float = 60.0, workers: int = 1) -> Engine:
    def factory():
        return ProcessRunner(WorkerSpec("tiny"), build=build_injecting, heartbeat_s=heartbeat_s)

    return Engine(
        [factory] * workers, family=tiny_family, config=EngineConfig(batch_budget=64 * 64 * 4)
    )


async def first(handle, kind):
    async for event in handle:
        if isinstance(event, kind):
            return event
    raise AssertionError(f"the job ended without {kind.__name__}")


async def test_a_worker_process_makes_the_same_images_as_in_process(tiny_family, tiny_pipelines):
    from tests.generation.helpers import make_request

    engine = process_engine(tiny_family)
    async with engine:
        handle = engine.submit(spec("a1", "a lighthouse"))
        result = await handle.result()
        runner = engine._runner
        assert runner.pid != os.getpid() and runner.pid is not None
    expected = tiny_pipelines.run(
        [
            make_request(
                tiny_pipelines,
                result.request.mode,
                prompt="a lighthouse",
                width=64,
                height=64,
                steps=2,
                seed=1,
            )
        ]
    )[0]
    assert max_diff(result.images[0], expected.images[0]) <= 1
    per_image = runner.boundary_s / len(result.images)
    print(f"\nprocess boundary: {per_image * 1000:.2f} ms per 64² image")


async def test_the_workers_log_lines_come_out_of_the_parents_handlers(tiny_family):
    """One stream and one format: JSON logs, redaction and levels apply to the child's lines."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    logging.getLogger("tests.worker_child").addHandler(keep)
    try:
        engine = process_engine(tiny_family)
        async with engine:
            child = engine._runner.pid
            await engine.submit(spec("a1", "LOG a harbour")).result()
            deadline = time.monotonic() + 30
            while not records and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
    finally:
        logging.getLogger("tests.worker_child").removeHandler(keep)
    [record] = records
    assert record.getMessage() == f"child {child} says hello" and child != os.getpid()
    assert record.levelno == logging.WARNING and record.process == child


@pytest.mark.parametrize("workers", [1, 2], ids=["1w", "2w"])
async def test_a_worker_killed_mid_batch_is_replaced_and_its_jobs_finish(tiny_family, workers):
    """One worker: the batch finishes on the replacement. Two: on the other worker, which runs
    the quick second job meanwhile (two idle workers share the two jobs) and is free long before
    the replacement has loaded its models."""
    engine = process_engine(tiny_family, workers=workers)
    async with engine:
        slow = engine.submit(spec("a1", "SLOW harbour", steps=4))
        other = engine.submit(spec("b1", "a field", steps=4))
        await first(slow, JobStarted)
        await first(other, JobStarted)
        [killed] = [
            slot
            for slot in engine.workers
            if slot.running and any(job.spec.job_id == "a1" for job in slot.running.jobs)
        ]
        others = [slot for slot in engine.workers if slot is not killed]
        killed_pid = killed.runner.pid
        os.kill(killed_pid, signal.SIGKILL)
        done = await asyncio.wait_for(asyncio.gather(slow.wait(), other.wait()), 120)
        assert all(isinstance(event, JobFinished) for event in done), done
        assert engine.metrics.worker_restarts == 1
        assert engine.state == "running"
        if others:
            assert [slot.batches for slot in others] == [2], (
                "the other worker ran b1 in a batch of its own, then the lost batch"
            )
        # Back in the queue, the job is told its place again before it starts again.
        again = [type(event) for event in [event async for event in slow]]
        assert JobQueued in again and again.index(JobQueued) < again.index(JobStarted), again
        await asyncio.wait_for(_replaced(killed, killed_pid), 120)  # it loads meanwhile
        replacement = killed.runner.pid
    with pytest.raises(ProcessLookupError):
        os.kill(replacement, 0)  # the replacement ends with the engine, reaped


async def _replaced(slot, pid: int) -> None:
    while slot.runner.pid == pid:
        await asyncio.sleep(0.05)


async def test_a_job_that_kills_its_worker_twice_is_set_aside(tiny_family):
    engine = process_engine(tiny_family)
    async with engine:
        poison = engine.submit(spec("a1", "DIE please"))
        end = await asyncio.wait_for(poison.wait(), 120)
        assert isinstance(end, JobFailed) and "stopped twice" in end.reason
        assert engine.metrics.worker_restarts == 2
        after = await asyncio.wait_for(engine.submit(spec("b1", "a calm sea")).wait(), 120)
        assert isinstance(after, JobFinished), "the next job runs on a fresh worker"


async def test_a_hung_worker_is_replaced_within_its_heartbeat(tiny_family):
    heartbeat = 2.0
    engine = process_engine(tiny_family, heartbeat_s=heartbeat)
    async with engine:
        hung = engine.submit(spec("a1", "HANG forever"))
        await first(hung, JobStarted)
        stuck_pid = engine._runner.pid
        since = time.monotonic()
        while engine.metrics.worker_restarts < 1:
            await asyncio.sleep(0.05)
        replaced_after = time.monotonic() - since
        print(f"\nhung worker replaced {replaced_after:.1f} s after its step began")
        assert replaced_after <= heartbeat + 5
        end = await asyncio.wait_for(hung.wait(), 120)
        assert isinstance(end, JobFailed), "hung twice: set aside"
        with pytest.raises(ProcessLookupError):
            os.kill(stuck_pid, 0)  # the hung process is gone, and its memory with it


async def test_a_fatal_device_error_replaces_the_worker(tiny_family):
    engine = process_engine(tiny_family)
    async with engine:
        broken = engine.submit(spec("a1", "FATAL"))
        end = await asyncio.wait_for(broken.wait(), 120)
        assert isinstance(end, JobFailed) and "device-side assert" in end.reason
        assert engine.metrics.worker_restarts == 2
        after = await asyncio.wait_for(engine.submit(spec("b1", "a calm sea")).wait(), 120)
        assert isinstance(after, JobFinished)


async def test_a_worker_that_cannot_be_replaced_leaves_the_engine_dead(tiny_family):
    """The process then exits non-zero (bot/run.py), so a supervisor starts a fresh one."""
    started = []

    def factory():
        if started:
            raise RuntimeError("CUDA error: no CUDA-capable device is detected")
        started.append(1)
        return ProcessRunner(WorkerSpec("tiny"), build=build_injecting)

    engine = Engine(factory, family=tiny_family, config=EngineConfig(batch_budget=64 * 64))
    async with engine:
        doomed = engine.submit(spec("a1", "DIE please"))
        end = await asyncio.wait_for(doomed.wait(), 120)
        assert isinstance(end, JobFailed) and "tell the operator" in end.reason
        assert engine.state == "dead"
