"""Engine.drain: the running batch finishes, queued jobs are handed back, nothing is failed."""

from __future__ import annotations

import asyncio

import pytest

from generation.engine import Engine, EngineConfig
from generation.engine.events import EngineStopped, JobFinished, JobInterrupted
from tests.generation.engine_helpers import FaultyRunner, spec


@pytest.fixture
def runner(tiny_pipelines):
    faulty = FaultyRunner(tiny_pipelines, slow_step_s=0.3)
    yield faulty
    faulty.gate.set()
    faulty.release.set()


def make_engine(runner, family) -> Engine:
    # One job per batch, so a drain finds some running and some waiting.
    return Engine(lambda: runner, family=family, config=EngineConfig(batch_budget=64 * 64))


async def started(handle) -> None:
    async for event in handle:
        if type(event).__name__ == "JobStarted":
            return


async def test_drain_finishes_the_running_batch_and_hands_back_the_queued(runner, tiny_family):
    engine = make_engine(runner, tiny_family)
    await engine.start()
    first = engine.submit(spec("a1", "SLOW first"))
    waiting = [engine.submit(spec(f"{user}1")) for user in "bcd"]
    await started(first)

    kept = await engine.drain(timeout_s=30)

    assert isinstance(await first.wait(), JobFinished), "the running batch finished"
    ends = [await handle.wait() for handle in waiting]
    assert ends == [JobInterrupted(was_running=False)] * 3 and kept == 3
    assert engine.metrics.jobs["failed"] == 0
    with pytest.raises(EngineStopped):
        engine.submit(spec("e1"))


async def test_a_batch_that_outruns_the_drain_is_handed_back_as_running(runner, tiny_family):
    engine = make_engine(runner, tiny_family)
    await engine.start()
    stuck = engine.submit(spec("a1", "HANG"))
    await started(stuck)

    kept = await asyncio.wait_for(engine.drain(timeout_s=0.5), 10)

    assert await stuck.wait() == JobInterrupted(was_running=True) and kept == 1
    runner.release.set()


async def test_no_new_batch_starts_while_draining(runner, tiny_family):
    engine = make_engine(runner, tiny_family)
    await engine.start()
    first = engine.submit(spec("a1", "SLOW first"))
    second = engine.submit(spec("b1", "second"))
    await started(first)
    await engine.drain(timeout_s=30)
    assert [call for call in runner.calls if "second" in call] == []
    assert await second.wait() == JobInterrupted(was_running=False)
