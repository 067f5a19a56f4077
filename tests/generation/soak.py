"""A soak of the engine with its models in worker processes: cancels, faults and worker kills.

Used by tests/generation/test_soak.py (a short run) and bench/soak.py (1,000 jobs, 20 kills).
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import signal
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

from generation.engine import Engine, EngineConfig
from generation.engine.events import JobCancelled, JobFailed, JobFinished, JobStarted
from generation.engine.worker_process import ProcessRunner, WorkerSpec
from generation.models.families import resolve_family
from tests.generation.engine_helpers import spec
from tests.generation.worker_helpers import build_injecting

USERS = 32
IN_FLIGHT = 48


@dataclass(frozen=True)
class Footprint:
    """What a leak would grow: this process's threads and file descriptors, and the RSS of it and
    its children (the worker)."""

    threads: int
    fds: int
    rss_bytes: int
    workers: int

    @classmethod
    def now(cls) -> Footprint:
        gc.collect()  # a dropped runner's pipes close when it is collected, not when dropped
        children = _children(os.getpid())
        return cls(
            threads=threading.active_count(),
            fds=len(os.listdir("/proc/self/fd")),
            rss_bytes=_rss(os.getpid()) + sum(_rss(pid) for pid in children),
            workers=len(children),
        )


@dataclass
class SoakReport:
    jobs: int
    kills: int
    outcomes: dict[str, int]
    unresolved: int
    worker_restarts: int
    seconds: float
    before: Footprint
    after: Footprint
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def process_engine(heartbeat_s: float = 60.0) -> Engine:
    def factory():
        return ProcessRunner(WorkerSpec("tiny"), build=build_injecting, heartbeat_s=heartbeat_s)

    config = EngineConfig(batch_budget=64 * 64 * 4, global_cap=IN_FLIGHT * 2)
    return Engine(factory, family=resolve_family("tiny"), config=config)


async def soak(
    *, jobs: int, kills: int, cancel_rate: float = 0.1, fault_rate: float = 0.05, seed: int = 0
) -> SoakReport:
    """Run ``jobs`` jobs, ``IN_FLIGHT`` at a time, cancelling and failing some at random and
    SIGKILLing the worker mid-batch ``kills`` times, evenly spread; every handle must resolve."""
    rng = random.Random(seed)
    kill_at = {round((n + 1) * jobs / (kills + 1)) for n in range(kills)}
    outcomes: Counter[str] = Counter()
    engine = process_engine()
    started = time.monotonic()
    async with engine:
        await _settle(engine, 8)  # first batches allocate what every later one reuses
        before = Footprint.now()
        slots = asyncio.Semaphore(IN_FLIGHT)
        pending: set[asyncio.Task] = set()
        for n in range(jobs):
            await slots.acquire()
            if n in kill_at:
                await _kill_mid_batch(engine, f"kill-{n}")
                outcomes["finished after a kill"] += 1
                slots.release()
                continue
            prompt = "FAIL on purpose" if rng.random() < fault_rate else f"a boat {n}"
            handle = engine.submit(spec(f"j{n}", prompt, user=n % USERS))
            cancel_after = rng.uniform(0, 0.3) if rng.random() < cancel_rate else None
            task = asyncio.create_task(_follow(handle, cancel_after, outcomes, slots))
            pending.add(task)
            task.add_done_callback(pending.discard)
        done, unresolved = await asyncio.wait(pending, timeout=600) if pending else (set(), set())
        for task in done:
            task.result()  # a follower that raised is a bug in the soak, not an outcome
        await _settle(engine, 8)  # the same state as at the start: an idle, warm worker
        after = Footprint.now()
        restarts = engine.metrics.worker_restarts
    return SoakReport(
        jobs=jobs,
        kills=kills,
        outcomes=dict(outcomes),
        unresolved=len(unresolved),
        worker_restarts=restarts,
        seconds=round(time.monotonic() - started, 1),
        before=before,
        after=after,
    )


async def rss_after_kills(kills: int) -> dict:
    """RSS of this process and its worker before and after ``kills`` mid-batch worker kills."""
    engine = process_engine()
    async with engine:
        await _settle(engine, 8)
        before = Footprint.now()
        for n in range(kills):
            await _kill_mid_batch(engine, f"rss-{n}")
        await _settle(engine, 8)
        after = Footprint.now()
        restarts = engine.metrics.worker_restarts
    return {
        "kills": kills,
        "worker_restarts": restarts,
        "before": asdict(before),
        "after": asdict(after),
        "rss_ratio": round(after.rss_bytes / before.rss_bytes, 4),
    }


async def _settle(engine: Engine, count: int) -> None:
    handles = [engine.submit(spec(f"warm-{time.monotonic_ns()}-{n}", user=n)) for n in range(count)]
    for handle in handles:
        end = await handle.wait()
        assert isinstance(end, JobFinished), end


async def _kill_mid_batch(engine: Engine, job_id: str) -> None:
    """A slow job starts; its worker is SIGKILLed mid-batch; the job must finish on the next."""
    handle = engine.submit(spec(job_id, "SLOW harbour", user=USERS + 1, steps=4))
    async for event in handle:
        if isinstance(event, JobStarted):
            break
    os.kill(engine._runner.pid, signal.SIGKILL)
    end = await asyncio.wait_for(handle.wait(), 300)
    assert isinstance(end, JobFinished), f"{job_id} after the kill: {end}"


async def _follow(handle, cancel_after, outcomes: Counter, slots: asyncio.Semaphore) -> None:
    try:
        if cancel_after is not None:
            await asyncio.sleep(cancel_after)
            handle.cancel()
        end = await handle.wait()
        kind = {JobFinished: "finished", JobFailed: "failed", JobCancelled: "cancelled"}
        outcomes[kind.get(type(end), type(end).__name__)] += 1
    finally:
        slots.release()


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as file:
            found += [int(child) for child in file.read().split()]
    return found


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        return 0  # ended between listing and reading
    return 0
