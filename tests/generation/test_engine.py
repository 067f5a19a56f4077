"""The engine on the real tiny pipelines: events, batching, fairness, cancel, faults, metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time

import pytest

from generation.engine import Engine, EngineConfig
from generation.engine.events import (
    EngineStopped,
    JobCancelled,
    JobCancelledError,
    JobFailed,
    JobFailedError,
    JobFinished,
    JobProgress,
    JobQueued,
    JobStarted,
)
from generation.engine.fair_queue import QueueFull
from generation.errors import InvalidInput
from generation.modes import Mode
from tests.generation.engine_helpers import FaultyRunner, spec
from tests.generation.helpers import max_diff

ONE = 64 * 64  # one tiny image's pixels


@pytest.fixture
def runner(tiny_pipelines):
    faulty = FaultyRunner(tiny_pipelines)
    yield faulty
    faulty.gate.set()
    faulty.release.set()


@pytest.fixture(scope="module")
def second_pipelines(tiny_family, tiny_styles):
    """The second worker's own models (two workers never share a PipelineSet)."""
    from generation.modes.pipelines import PipelineSet

    return PipelineSet(tiny_family, styles=tiny_styles)


@pytest.fixture
def workers(request) -> int:
    """How many workers the engine runs; tests that take ``pool`` are run with 1 and with 2."""
    return getattr(request, "param", 1)


@pytest.fixture
def pool(runner, workers, request) -> list[FaultyRunner]:
    """One runner per worker: the first is ``runner``, the others its twins."""
    if workers == 1:
        return [runner]
    second = request.getfixturevalue("second_pipelines")
    return [runner, *(runner.twin(second) for _ in range(workers - 1))]


def make_engine(runner, family, **config) -> Engine:
    """``runner`` is one runner, or a pool of them (one worker each)."""
    settings = dict(batch_budget=8 * ONE, per_user_cap=50, global_cap=1000)
    settings.update(config)
    runners = runner if isinstance(runner, list) else [runner]
    factories = [lambda r=r: r for r in runners]
    return Engine(factories, family=family, config=EngineConfig(**settings))


async def hold_every_worker(engine, pool: list[FaultyRunner]) -> None:
    """A GATE job from a user of its own on each worker, so that what follows waits in line."""
    for k in range(len(pool)):  # sizes apart: two GATE jobs must not share one call
        engine.submit(spec(f"Z{k + 1}", "GATE", user=9000 + k, width=64 + 32 * k))
    await _until(lambda: len(pool[0].calls) == len(pool))


def record_starts(handles) -> list[str]:
    """Job ids in the order the engine started them, over every worker.

    Read where the engine emits JobStarted (on the loop, in dispatch order), not from the runners'
    calls: two workers may enter their runners in either order a moment after taking their turns.
    """
    order: list[str] = []
    for handle in handles:
        emit = handle._emit

        def recording(event, emit=emit, job_id=handle.job_id) -> None:
            if isinstance(event, JobStarted):
                order.append(job_id)
            emit(event)

        handle._emit = recording
    return order


TWO_WORKERS = pytest.mark.parametrize("workers", [1, 2], indirect=True, ids=["1w", "2w"])


async def events_of(handle) -> list:
    return [event async for event in handle]


async def test_a_job_reports_queued_started_progress_and_finished(runner, tiny_family):
    async with make_engine(runner, tiny_family) as engine:
        events = await events_of(engine.submit(spec("A1", steps=3, count=2)))
    kinds = [type(e) for e in events]
    assert kinds[0] is JobQueued and events[0].position == 1
    assert JobStarted in kinds and kinds[-1] is JobFinished
    steps = [e.step for e in events if isinstance(e, JobProgress)]
    assert steps and steps == sorted(steps) and steps[-1] == 3
    result = events[-1].result
    assert [image.size for image in result.images] == [(64, 64), (64, 64)]
    assert result.seeds == (1, 2)


async def test_an_unread_handle_keeps_only_the_newest_progress(runner, tiny_family):
    async with make_engine(runner, tiny_family) as engine:
        handle = engine.submit(spec("A1", steps=6))
        await handle.wait()
        events = await events_of(handle)
    assert [type(e) for e in events] == [JobQueued, JobStarted, JobProgress, JobFinished]
    assert events[2] == JobProgress(6, 6)


async def test_compatible_jobs_of_different_users_share_one_call(runner, tiny_family):
    async with make_engine(runner, tiny_family) as engine:
        blocker = engine.submit(spec("Z1", "GATE"))
        await _until(lambda: runner.calls)
        handles = [engine.submit(spec(f"{u}1", f"prompt {u}")) for u in "ABCD"]
        odd = engine.submit(spec("E1", "another size", width=96))
        runner.gate.set()
        results = await asyncio.gather(*(h.result() for h in [blocker, *handles, odd]))
    assert runner.calls[1] == ["prompt A", "prompt B", "prompt C", "prompt D"]
    assert runner.calls[2] == ["another size"]
    assert results[5].images[0].size == (96, 64)
    started = [e for e in await events_of(handles[0]) if isinstance(e, JobStarted)]
    assert started[0].batch_size == 4


async def test_batches_equal_single_runs(runner, tiny_family, tiny_pipelines):
    async with make_engine(runner, tiny_family) as engine:
        blocker = engine.submit(spec("Z1", "GATE"))
        await _until(lambda: runner.calls)
        batched = [
            engine.submit(spec(f"{u}1", f"prompt {u}", seed=s))
            for u, s in zip("ABC", (5, 6, 7), strict=True)
        ]
        runner.gate.set()
        await blocker.result()
        batched_results = [await h.result() for h in batched]
        singles = []
        for u, s in zip("ABC", (5, 6, 7), strict=True):
            singles.append(await engine.submit(spec(f"{u}2", f"prompt {u}", seed=s)).result())
    assert len(runner.calls[1]) == 3
    for got, want in zip(batched_results, singles, strict=True):
        assert max_diff(got.images[0], want.images[0]) <= 1


@TWO_WORKERS
async def test_users_take_turns_through_the_engine(pool, tiny_family):
    async with make_engine(pool, tiny_family, batch_budget=ONE) as engine:
        await hold_every_worker(engine, pool)
        handles = [engine.submit(spec(name, name)) for name in ("A1", "A2", "B1", "C1", "C2", "A3")]
        for _ in range(20):  # user A floods; B's single job must still come right after A1
            handles.append(engine.submit(spec(f"A{_ + 10}", "A-flood")))
        late = engine.submit(spec("D1", "D1"))
        assert engine.position("D1") == 4  # A1 B1 C1, then the newcomer D before A's second job
        order = record_starts([*handles, late])
        pool[0].gate.set()
        await asyncio.gather(*(h.result() for h in [*handles, late]))
    assert order[:7] == ["A1", "B1", "C1", "D1", "A2", "C2", "A3"]
    assert all(runner.own_calls > 1 for runner in pool), "every worker took turns"


@TWO_WORKERS
async def test_an_animation_costs_its_user_a_turn_per_frame_through_the_engine(pool, tiny_family):
    async with make_engine(pool, tiny_family, batch_budget=ONE) as engine:
        await hold_every_worker(engine, pool)
        # 8 frames at the images' size, steps and guidance: 8 images' worth of GPU.
        animation = dict(mode=Mode.ANIMATE, frames=8, guidance=1.0)
        handles = [engine.submit(spec("A1", "A1", **animation)), engine.submit(spec("A2", "A2"))]
        handles += [engine.submit(spec(f"B{i}", f"B{i}")) for i in range(1, 11)]
        assert engine.position("A2") == 10
        order = record_starts(handles)
        pool[0].gate.set()
        await asyncio.gather(*(h.result() for h in handles))
    assert order == ["A1", *(f"B{i}" for i in range(1, 9)), "A2", "B9", "B10"]
    assert all(runner.own_calls > 1 for runner in pool), "every worker took turns"


@pytest.mark.parametrize("workers", [2], indirect=True)
async def test_a_batch_goes_to_the_idle_worker_that_has_its_mode_built(pool, tiny_family):
    """Both workers idle: an animation goes to the one that built the animation pipeline."""
    animation = dict(mode=Mode.ANIMATE, frames=8, guidance=1.0)
    async with make_engine(pool, tiny_family) as engine:
        await engine.submit(spec("A1", "A1", **animation)).result()
        [warm] = [slot for slot in engine.workers if Mode.ANIMATE in slot.modes]
        for k in range(2, 6):
            # Both workers back in their wait, the cold one first: without the preference, the
            # cold one would be woken for the job (a condition wakes its waiters in order).
            await _until(lambda: all(slot.waiting for slot in engine.workers))
            await engine.submit(spec(f"A{k}", f"A{k}", **animation)).result()
    assert pool[warm.index].own_calls == 5 and pool[1 - warm.index].own_calls == 0


@pytest.mark.parametrize("workers", [2], indirect=True)
async def test_two_idle_workers_share_a_burst_evenly(pool, tiny_family):
    """Eight compatible jobs, both workers idle: two batches of four that end together, not one
    of eight beside an idle worker."""
    async with make_engine(pool, tiny_family) as engine:
        await _until(lambda: all(slot.waiting for slot in engine.workers))
        # Queued as a burst in one turn of the loop usually is: before a worker can run.
        handles = queued_in_one_turn(
            engine, [spec(f"{user}1", f"from {user}") for user in "ABCDEFGH"]
        )
        await asyncio.gather(*(handle.result() for handle in handles))
    assert sorted(len(prompts) for prompts in pool[0].calls) == [4, 4]
    assert [runner.own_calls for runner in pool] == [1, 1]


def queued_in_one_turn(engine, specs) -> list:
    """Submit ``specs`` before either worker thread can run (they need the GIL)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(30)
    try:
        return [engine.submit(job) for job in specs]
    finally:
        sys.setswitchinterval(previous)


@pytest.mark.parametrize("workers", [2], indirect=True)
async def test_a_burst_is_not_split_when_the_other_worker_takes_other_work(pool, tiny_family):
    """Eight of A's 64² jobs and one 96² job of B: the second worker takes B's job, so A's
    eight run as one batch beside it, not four now and four after."""
    async with make_engine(pool, tiny_family) as engine:
        await _until(lambda: all(slot.waiting for slot in engine.workers))
        handles = queued_in_one_turn(
            engine,
            [spec(f"A{k}", f"A{k}") for k in range(1, 9)] + [spec("B1", "B1", width=96)],
        )
        await asyncio.gather(*(handle.result() for handle in handles))
    assert sorted(len(prompts) for prompts in pool[0].calls) == [1, 8]


@pytest.mark.parametrize("workers", [2], indirect=True)
async def test_a_burst_is_not_split_with_a_worker_that_has_not_built_its_mode(pool, tiny_family):
    """Four animations, both workers idle, one with the animation pipeline built: it runs all
    four, and the other does not load the motion adapter for half of them."""
    # No input picture: an image would be resized while queuing, which lets a worker run.
    animation = dict(mode=Mode.ANIMATE, frames=8, guidance=1.0)
    async with make_engine(pool, tiny_family, batch_budget=4 * 8 * ONE) as engine:
        await engine.submit(spec("A1", "A1", **animation)).result()
        [warm] = [slot for slot in engine.workers if Mode.ANIMATE in slot.modes]
        await _until(lambda: all(slot.waiting for slot in engine.workers))
        handles = queued_in_one_turn(
            engine, [spec(f"{user}2", f"{user}2", **animation) for user in "ABCD"]
        )
        await asyncio.gather(*(handle.result() for handle in handles))
    assert pool[warm.index].own_calls == 2 and pool[1 - warm.index].own_calls == 0
    assert [len(prompts) for prompts in pool[0].calls] == [1, 4]


@TWO_WORKERS
async def test_cancel_a_queued_job_and_it_never_starts(pool, tiny_family):
    runner = pool[0]
    async with make_engine(pool, tiny_family) as engine:
        await hold_every_worker(engine, pool)
        victim = engine.submit(spec("A1", "victim"))
        keeper = engine.submit(spec("B1", "keeper"))
        assert victim.cancel() is True
        assert victim.cancel() is False, "a finished job cannot be cancelled twice"
        runner.gate.set()
        await keeper.result()
        with pytest.raises(JobCancelledError):
            await victim.result()
    assert all("victim" not in prompts for prompts in runner.calls)
    assert await victim.wait() == JobCancelled(while_running=False)


async def test_five_quick_jobs_of_one_coalesce_key_run_twice_latest_wins(runner, tiny_family):
    async with make_engine(runner, tiny_family) as engine:
        first = engine.submit(dataclasses.replace(spec("A1", "GATE"), coalesce_key="nudge"))
        await _until(lambda: runner.calls)  # running: a newer job of its key never replaces it
        clicks = [
            engine.submit(dataclasses.replace(spec(f"A{n}", f"click {n}"), coalesce_key="nudge"))
            for n in range(2, 6)
        ]
        runner.gate.set()
        await first.result()
        assert (await clicks[-1].result()).request.prompt == "click 5"
        for superseded in clicks[:-1]:
            assert await superseded.wait() == JobCancelled(False, superseded=True)
        snapshot = engine.snapshot()
        text = engine.prometheus_text().decode()
    assert [prompts for prompts in runner.calls] == [["GATE"], ["click 5"]]
    assert snapshot.jobs["finished"] == 2 and snapshot.superseded == 3
    assert "lcm_jobs_superseded_total 3.0" in text


async def _running_batch_of_four(engine, runner, steps: int = 8) -> list:
    """Four users' SLOW jobs sharing one GPU call, which has begun stepping."""
    engine.submit(spec("Z1", "GATE"))
    await _until(lambda: runner.calls)
    handles = [engine.submit(spec(f"{u}1", f"SLOW {u}", steps=steps)) for u in "ABCD"]
    runner.gate.set()
    await _until(lambda: any(prompt == "SLOW A" for prompt, _, _ in runner.steps))
    return handles


async def _collect(handle, into: list) -> None:
    async for event in handle:
        into.append(event)


async def test_cancelling_one_job_of_a_running_batch_leaves_its_batch_mates_running(
    runner, tiny_family
):
    async with make_engine(runner, tiny_family) as engine:
        handles = await _running_batch_of_four(engine, runner)
        victim, mates = handles[1], [handles[0], *handles[2:]]
        seen: list[list] = [[] for _ in mates]
        readers = [
            asyncio.create_task(_collect(h, into)) for h, into in zip(mates, seen, strict=True)
        ]
        assert victim.cancel() is True
        # The user hears it at once, not when the batch ends.
        assert victim.done and await victim.wait() == JobCancelled(while_running=True)
        assert not any(h.done for h in mates), "the batch-mates are still running"
        results = [await h.result() for h in mates]
        await asyncio.gather(*readers)
        snapshot = engine.snapshot()
    assert runner.calls == [["GATE"], ["SLOW A", "SLOW B", "SLOW C", "SLOW D"]], "no re-run"
    assert all(r.images for r in results)
    for events in seen:
        steps = [e.step for e in events if isinstance(e, JobProgress)]
        assert steps == sorted(set(steps)) and steps[-1] == 8, f"progress went back: {steps}"
    assert snapshot.jobs == {"submitted": 5, "finished": 4, "failed": 0, "cancelled": 1}


async def test_cancelling_every_job_of_a_running_batch_stops_it_within_one_step(
    runner, tiny_family
):
    async with make_engine(runner, tiny_family) as engine:
        handles = await _running_batch_of_four(engine, runner)
        cancelled_at = time.monotonic()
        assert all(h.cancel() for h in handles)
        assert all(h.done for h in handles)
        after = await engine.submit(spec("E1", "after")).result()
        snapshot = engine.snapshot()
    steps_after_cancel = [s for p, s, t in runner.steps if p == "SLOW A" and t > cancelled_at]
    assert len(steps_after_cancel) <= 1, steps_after_cancel
    assert runner.calls[1:] == [["SLOW A", "SLOW B", "SLOW C", "SLOW D"], ["after"]]
    assert after.images
    assert snapshot.jobs["cancelled"] == 4 and snapshot.running_jobs == 0


async def test_a_running_job_cancelled_is_no_longer_listed_and_its_id_stays_taken(
    runner, tiny_family
):
    async with make_engine(runner, tiny_family) as engine:
        handles = await _running_batch_of_four(engine, runner)
        assert handles[0].cancel() is True
        assert handles[0].cancel() is False, "a cancel is answered once"
        assert sorted(engine.running_jobs()) == ["B1", "C1", "D1"]
        with pytest.raises(ValueError, match="already in the engine"):
            engine.submit(spec("A1", "same id while its batch still runs"))
        for handle in handles[1:]:
            await handle.result()
        assert (await engine.submit(spec("A1", "same id later")).result()).images


async def test_a_failing_job_fails_alone_and_its_batch_mates_finish(runner, tiny_family):
    async with make_engine(runner, tiny_family) as engine:
        engine.submit(spec("Z1", "GATE"))
        await _until(lambda: runner.calls)
        good = [engine.submit(spec(f"{u}1", f"good {u}")) for u in "AB"]
        bad = engine.submit(spec("C1", "FAIL here"))
        runner.gate.set()
        results = [await h.result() for h in good]
        with pytest.raises(JobFailedError, match="injected failure"):
            await bad.result()
    assert [len(call) for call in runner.calls[1:]] == [3, 1, 1, 1]
    assert all(r.images for r in results)


async def test_out_of_memory_splits_the_batch_and_retries_once(runner, tiny_family):
    async with make_engine(runner, tiny_family) as engine:
        engine.submit(spec("Z1", "GATE"))
        await _until(lambda: runner.calls)
        handles = [engine.submit(spec(f"{u}1", f"OOM {u}")) for u in "ABCD"]
        runner.gate.set()
        results = [await h.result() for h in handles]
    assert [len(call) for call in runner.calls[1:]] == [4, 2, 2]
    assert all(r.images for r in results)


async def test_out_of_memory_splits_once_not_again_and_again(tiny_pipelines, tiny_family):
    """Halves that still run out of memory fail with advice; they are not halved again."""
    runner = FaultyRunner(tiny_pipelines, oom_above=1)  # 4 and 2 do not fit; 1 would
    async with make_engine(runner, tiny_family) as engine:
        engine.submit(spec("Z1", "GATE"))
        await _until(lambda: runner.calls)
        handles = [engine.submit(spec(f"{u}1", f"OOM {u}")) for u in "ABCD"]
        runner.gate.set()
        for handle in handles:
            with pytest.raises(JobFailedError, match="ran out of memory"):
                await handle.result()
    assert [len(call) for call in runner.calls[1:]] == [4, 2, 2], "one split, then advice"


async def test_out_of_memory_at_the_smallest_size_fails_with_advice(tiny_pipelines, tiny_family):
    runner = FaultyRunner(tiny_pipelines, oom_above=0)  # out of memory at any size
    async with make_engine(runner, tiny_family) as engine:
        doomed = [engine.submit(spec(f"{u}1", f"OOM {u} GATE")) for u in "AB"]
        await _until(lambda: runner.calls)
        runner.gate.set()
        for handle in doomed:
            with pytest.raises(JobFailedError, match=r"ran out of memory.*smaller size"):
                await handle.result()
        after = await engine.submit(spec("C1", "fine")).result()
    assert after.images, "the worker is alive after out-of-memory failures"


async def test_a_hung_step_fails_its_job_within_the_limit_and_later_jobs_run(tiny_family):
    from generation.modes.pipelines import PipelineSet

    runners: list[FaultyRunner] = []

    def fresh_runner():
        runners.append(FaultyRunner(PipelineSet(tiny_family)))
        return runners[-1]

    config = EngineConfig(
        batch_budget=ONE, job_timeout_s=1.0, hang_grace_s=0.5, watchdog_interval_s=0.05
    )
    engine = Engine(fresh_runner, family=tiny_family, config=config)
    try:
        await engine.start()
        hung = engine.submit(spec("A1", "HANG"))
        later = engine.submit(spec("B1", "after the hang"))
        started = time.monotonic()
        with pytest.raises(JobFailedError, match="longer than the 1 s limit"):
            await hung.result()
        assert time.monotonic() - started < 1.0 + 5.0
        assert (await asyncio.wait_for(later.result(), 30)).images
        assert len(runners) == 2, "the hung worker was replaced by a fresh one"
    finally:
        await engine.stop()
        for runner in runners:
            runner.release.set()


async def test_a_slow_job_times_out_between_steps(runner, tiny_family):
    runner.slow_step_s = 0.3
    async with make_engine(runner, tiny_family, job_timeout_s=0.5) as engine:
        slow = engine.submit(spec("A1", "SLOW", steps=8))
        with pytest.raises(JobFailedError, match="took longer than"):
            await slow.result()
        assert (await engine.submit(spec("B1", "quick")).result()).images


class WorkerCrash(BaseException):
    """Escapes every `except Exception`, as a bug in the worker loop would."""


class CrashingRunner:
    def __init__(self, inner):
        self.inner = inner
        self.entered = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    def run(self, requests, on_step):
        self.loop.call_soon_threadsafe(self.entered.set)
        time.sleep(0.2)
        raise WorkerCrash("the worker thread dies")

    def memory_bytes(self):
        return None


async def test_if_the_worker_dies_every_open_handle_fails_at_once(tiny_pipelines, tiny_family):
    crashing = CrashingRunner(tiny_pipelines)
    engine = Engine(lambda: crashing, family=tiny_family, config=EngineConfig(batch_budget=ONE))
    await engine.start()
    handles = [engine.submit(spec(f"{u}1", f"job {u}")) for u in "ABCD"]
    events = await asyncio.wait_for(asyncio.gather(*(h.wait() for h in handles)), 10)
    assert all(isinstance(e, JobFailed) and "stopped unexpectedly" in e.reason for e in events)
    with pytest.raises(EngineStopped):
        engine.submit(spec("E1"))
    await engine.stop()


async def test_bad_requests_and_full_queues_are_refused_at_submit(runner, tiny_family):
    async with make_engine(runner, tiny_family, per_user_cap=2, global_cap=3) as engine:
        with pytest.raises(InvalidInput, match="steps"):
            engine.submit(spec("A0", steps=20))
        engine.submit(spec("Z1", "GATE"))
        await _until(lambda: runner.calls)
        engine.submit(spec("A1"))
        engine.submit(spec("A2"))
        with pytest.raises(QueueFull, match="you already have 2 jobs waiting"):
            engine.submit(spec("A3"))
        engine.submit(spec("B1"))
        with pytest.raises(QueueFull, match="the queue is full"):
            engine.submit(spec("C1"))
        assert engine.waiting_jobs(ord("A")) == [("A1", 1), ("A2", 3)]
        runner.gate.set()


async def test_stop_fails_waiting_jobs_with_a_reason(runner, tiny_family):
    engine = make_engine(runner, tiny_family)
    await engine.start()
    engine.submit(spec("Z1", "GATE"))
    await _until(lambda: runner.calls)
    waiting = engine.submit(spec("A1"))
    runner.gate.set()
    await engine.stop()
    with pytest.raises(JobFailedError, match="shutting down"):
        await waiting.result()


async def test_metrics_match_the_jobs_that_ran(runner, tiny_family):
    async with make_engine(runner, tiny_family) as engine:
        done = [engine.submit(spec(f"{u}1", count=2)) for u in "ABC"]
        failed = engine.submit(spec("D1", "FAIL"))
        for handle in done:
            await handle.result()
        await failed.wait()
        snapshot = engine.snapshot()
        text = engine.prometheus_text().decode()
    assert snapshot.jobs == {"submitted": 4, "finished": 3, "failed": 1, "cancelled": 0}
    assert snapshot.queue_depth == 0 and snapshot.running_jobs == 0
    assert snapshot.wait_p50_s is not None and snapshot.run_p95_s >= snapshot.run_p50_s
    assert snapshot.images_per_s > 0
    assert sum(size * n for size, n in snapshot.batch_sizes.items()) == 4, "every job was batched"
    assert 'lcm_jobs_completed_total{status="finished"} 3.0' in text
    assert 'lcm_jobs_completed_total{status="failed"} 1.0' in text
    assert "lcm_images_total 6.0" in text
    assert "lcm_queue_depth 0.0" in text


@pytest.mark.slow
async def test_500_jobs_with_10_percent_failures_all_resolve(runner, tiny_family):
    runner.oom_above = 4  # a full batch of 8 runs out of memory; its halves fit
    async with make_engine(runner, tiny_family) as engine:
        handles = {}
        for n in range(500):
            user = chr(ord("A") + n % 25)
            prompt = "FAIL" if n % 10 == 3 else ("OOM" if n % 17 == 0 else f"job {n}")
            handles[n] = engine.submit(spec(f"{user}{n}", prompt))
        events = await asyncio.wait_for(asyncio.gather(*(h.wait() for h in handles.values())), 600)
        alive = await engine.submit(spec("Z1", "after")).result()
        snapshot = engine.snapshot()
    finished = sum(isinstance(e, JobFinished) for e in events)
    failed = [e for e in events if isinstance(e, JobFailed)]
    assert finished == 450 and len(failed) == 50
    assert all("injected failure" in e.reason for e in failed)
    assert alive.images
    assert snapshot.jobs["finished"] == 451 and snapshot.jobs["failed"] == 50
    assert max(len(call) for call in runner.calls) > 1, "batches formed"


async def test_the_event_loop_stays_responsive_while_the_model_renders(runner, tiny_family):
    lags: list[float] = []

    async def ticker(stop: asyncio.Event):
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - before - 0.01)

    async with make_engine(runner, tiny_family, batch_budget=2 * ONE) as engine:
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        handles = [engine.submit(spec(f"{chr(65 + i % 8)}{i}", steps=4)) for i in range(40)]
        await asyncio.gather(*(h.result() for h in handles))
        stop.set()
        await tick
    lags.sort()
    p99 = lags[int(len(lags) * 0.99) - 1]
    print(f"event-loop lag over {len(lags)} ticks: p99 {p99 * 1000:.1f} ms")
    assert len(lags) > 50
    assert p99 < 0.100, f"event-loop lag p99 {p99 * 1000:.1f} ms"


async def _until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
