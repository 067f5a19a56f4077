"""The scheduler: one fair queue and one batcher in front of every worker, handles on the loop.

The event loop only queues, cancels and hands out events. Each worker slot (one per device, see
workers.py) takes the next fair batch when it is idle, runs it on its own thread and reports back
with ``loop.call_soon_threadsafe``. Fairness, caps, positions and cancel live here, once, so they
hold over the whole pool. A watchdog on the loop fails a batch that overruns its wall-clock limit
and replaces that slot's hung thread with a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from generation.engine.batch_execution import Outcome
from generation.engine.events import (
    EngineStopped,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobFinished,
    JobInterrupted,
    JobProgress,
    JobQueued,
    JobSpec,
    JobStarted,
)
from generation.engine.fair_queue import FairQueue, QueuedJob
from generation.engine.job_handle import JobHandle
from generation.engine.metrics import EngineMetrics, MetricsSnapshot
from generation.engine.workers import RunningBatch, WorkerSlot
from generation.models.families import ModelFamily
from generation.models.styles import StyleLibrary
from generation.modes.requests import (
    GenerationRequest,
    GenerationResult,
    gpu_cost,
    validate_request,
)

log = logging.getLogger(__name__)


class BatchRunner(Protocol):
    """What the worker drives; ``PipelineSet`` is the real one."""

    def run(
        self, requests: Sequence[GenerationRequest], on_step: Callable[[int, int], bool | None]
    ) -> list[GenerationResult]: ...

    def memory_bytes(self) -> tuple[int, int] | None: ...


@dataclass(frozen=True)
class EngineConfig:
    """Scheduling limits. ``batch_budget`` counts images × pixels per GPU call."""

    batch_budget: int = 8 * 512 * 512
    per_user_cap: int = 5
    global_cap: int = 200
    job_timeout_s: float = 120.0
    hang_grace_s: float = 5.0  # a step may overrun the limit by this much before the worker goes
    watchdog_interval_s: float = 0.25


@dataclass
class _Job:
    spec: JobSpec
    handle: JobHandle
    submitted_at: float
    position: int = 0  # the place it was last told; 0 until it is told one
    started_at: float | None = None
    cancel_requested: bool = False
    queued: QueuedJob | None = None  # what the fair queue held, to queue it again
    worker_losses: int = 0  # worker processes that died while running this job


RunnerFactory = Callable[[], BatchRunner]


class Engine:
    """Submit jobs, get handles. ``async with Engine(...)`` starts the workers and stops them.

    ``runner_factory`` builds one worker's runner; a list of them (one per device) starts that
    many workers behind the one queue.
    """

    def __init__(
        self,
        runner_factory: RunnerFactory | Sequence[RunnerFactory],
        *,
        family: ModelFamily,
        styles: StyleLibrary | None = None,
        config: EngineConfig | None = None,
    ) -> None:
        self.family = family
        self.styles = styles or StyleLibrary()
        self.config = config or EngineConfig()
        self.metrics = EngineMetrics()
        factories = [runner_factory] if callable(runner_factory) else list(runner_factory)
        if not factories:
            raise ValueError("an engine needs at least one worker")
        self.workers = [WorkerSlot(index, factory) for index, factory in enumerate(factories)]
        self._queue = FairQueue(
            per_user_cap=self.config.per_user_cap,
            global_cap=self.config.global_cap,
            on_superseded=self._superseded,  # latest wins within a coalesce key
        )
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._jobs: dict[str, _Job] = {}
        self._dispatched = 0  # batches handed out, in order
        # Batches whose start the loop has seen and whose end it has not (loop side only): the
        # worker clears _running before the loop has the results, so drain waits on this too.
        self._open_batches = 0
        self._generation = 0
        self._state = "new"  # new → starting → running → (draining →) stopped | dead
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: asyncio.Task | None = None
        self._ready: asyncio.Future | None = None
        self._starting: set[int] = set()  # slots whose first runner is still loading
        # A publication of waiting jobs' places is scheduled on the loop (see submit).
        self._positions_due = False
        self._positions_forced = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the workers; returns once every one has its models loaded (raises if one fails)."""
        if self._state != "new":
            raise EngineStopped(f"the engine is {self._state}; make a new one")
        self._loop = asyncio.get_running_loop()
        self._state = "starting"
        self._ready = self._loop.create_future()
        self._starting = {slot.index for slot in self.workers}
        for slot in self.workers:
            slot.spawn(self)
        try:
            await self._ready
        except BaseException:
            self._state = "dead"
            await self.stop_workers(timeout_s=10.0)
            raise
        self._state = "running"
        self._watchdog = asyncio.create_task(self._watch(), name="engine-watchdog")

    async def drain(self, timeout_s: float) -> int:
        """A graceful stop: take no new batch, let the running one finish within ``timeout_s``.

        Every job still open then ends with JobInterrupted, not a failure: the caller keeps it
        (the journal does) and runs it after the restart. Returns how many were interrupted.
        """
        if self._state != "running":
            await self.stop()
            return 0
        with self._work:
            self._state = "draining"  # submit() refuses from here on
            self._work.notify_all()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._running_batches() and not self._open_batches:
                    break
            await asyncio.sleep(0.02)
        # The worker sees its jobs gone at the next step and returns; one stuck in a step is a
        # daemon thread, not worth holding the stop for.
        return await self.stop(interrupt=True, timeout_s=2.0)

    async def stop(self, *, timeout_s: float = 10.0, interrupt: bool = False) -> int:
        """Stop taking work, end what is left, and let the worker finish.

        What is left fails with a reason, or with ``interrupt`` ends as JobInterrupted (see
        drain). Returns how many jobs were left.
        """
        if self._state in ("stopped", "new"):
            self._state = "stopped"
            return 0
        with self._work:
            self._state = "stopped"
            self._generation += 1
            leftovers = list(self._jobs.values())
            self._jobs.clear()
            for job in leftovers:
                self._queue.cancel(job.spec.job_id)
            for slot in self.workers:
                slot.running = None
            self._work.notify_all()
        for job in leftovers:
            if interrupt:
                job.handle._emit(JobInterrupted(was_running=job.started_at is not None))
            else:
                self._end(job, JobFailed("the bot is shutting down; please try again shortly"))
        if self._watchdog is not None:
            self._watchdog.cancel()
        await self.stop_workers(timeout_s)
        return len(leftovers)

    async def stop_workers(self, timeout_s: float) -> None:
        """Wait for every slot's current thread; a replaced (hung) one is a daemon left behind."""
        with self._work:
            self._generation += 1
            self._work.notify_all()
        threads = [slot.thread for slot in self.workers if slot.thread is not None]
        deadline = time.monotonic() + timeout_s
        for thread in threads:
            await asyncio.to_thread(thread.join, max(0.0, deadline - time.monotonic()))

    @property
    def state(self) -> str:
        """new, starting, running, stopped or dead (the worker died): for health checks."""
        return self._state

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    # ------------------------------------------------------------------ the loop-side API

    def submit(self, spec: JobSpec, *, enforce_caps: bool = True) -> JobHandle:
        """Validate and queue ``spec``; raises InvalidInput, QueueFull or EngineStopped at once.

        ``enforce_caps=False`` queues a job accepted before (recovered after a restart) even past
        the per-user and global caps.
        """
        if self._state == "draining":
            raise EngineStopped("the bot is restarting; try again in a minute")
        if self._state != "running":
            raise EngineStopped(f"the engine is {self._state}, not taking jobs")
        request = validate_request(spec.request, self.family, self.styles)
        spec = JobSpec(spec.job_id, spec.user_id, spec.guild_id, request, spec.coalesce_key)
        frames = request.frames if request.mode.spec.video else 1
        queued = QueuedJob(
            job_id=spec.job_id,
            user_id=spec.user_id,
            guild_id=spec.guild_id,
            batch_key=request.batch_key(),
            images=request.count,
            pixels=request.width * request.height * frames,
            cost=gpu_cost(request, self.family),  # what its turn charges in the fair queue
            coalesce_key=spec.coalesce_key,
        )
        handle = JobHandle(spec.job_id, self.cancel)
        with self._work:
            # A cancelled job leaves _jobs before its batch ends; its id stays taken until then.
            running = [job for batch in self._running_batches() for job in batch.jobs]
            if spec.job_id in self._jobs or any(j.spec.job_id == spec.job_id for j in running):
                raise ValueError(f"job {spec.job_id} is already in the engine")
            self._queue.push(queued, enforce_caps=enforce_caps)
            job = _Job(spec, handle, time.monotonic(), queued=queued)
            self._jobs[spec.job_id] = job
            # Its place, and the others' (the fair order may put it ahead of them), go out once
            # this turn of the loop is over: a burst of n submits walks the turn order once, not
            # n times. Asked for under the lock, so before any worker can take the job.
            self._publish_positions_soon()
            self._work.notify()
        self.metrics.submitted()
        return handle

    def _superseded(self, queued: QueuedJob) -> None:
        # Called by the queue under the lock: a newer job of its coalesce key took its place.
        self.metrics.superseded()
        self._end(self._jobs.pop(queued.job_id), JobCancelled(False, superseded=True))

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued job (it never starts) or a running one; either ends at once.

        A running job's batch-mates carry on: its output is dropped when the batch ends, and the
        batch stops within a step only once every job in it is cancelled.
        """
        with self._work:
            job = self._jobs.pop(job_id, None)
            if job is None:
                return False
            was_queued = self._queue.cancel(job_id) is not None
            job.cancel_requested = True  # for whoever still holds this _Job (a lost batch)
        self._end(job, JobCancelled(while_running=not was_queued))
        if was_queued:
            self._publish_positions_soon()
        return True

    def position(self, job_id: str) -> int | None:
        with self._lock:
            return self._queue.position(job_id)

    def waiting_jobs(self, user_id: int) -> list[tuple[str, int]]:
        """(job id, position) of a user's queued jobs, for a /queue command."""
        with self._lock:
            return [
                (job.job_id, self._queue.position(job.job_id) or 0)
                for job in self._queue.jobs_of(user_id)
            ]

    def running_jobs(self) -> list[str]:
        with self._lock:
            return [job.spec.job_id for job in self._held_running()]

    def snapshot(self) -> MetricsSnapshot:
        with self._lock:
            depth = len(self._queue)
            running = len(self._held_running())
        return self.metrics.snapshot(
            queue_depth=depth, running_jobs=running, memory=self._memory_bytes()
        )

    def prometheus_text(self) -> bytes:
        return self.metrics.prometheus_text(self.snapshot())

    @property
    def _runner(self) -> BatchRunner | None:
        """The first worker's runner (the only one with a single device)."""
        return self.workers[0].runner

    def _memory_bytes(self) -> tuple[int, int] | None:
        """Allocated and peak bytes over every worker that reports them (GPUs do)."""
        figures = [slot.runner.memory_bytes() for slot in self.workers if slot.runner is not None]
        figures = [figure for figure in figures if figure is not None]
        if not figures:
            return None
        return sum(f[0] for f in figures), sum(f[1] for f in figures)

    def _running_batches(self) -> list[RunningBatch]:
        return [slot.running for slot in self.workers if slot.running is not None]

    def _held_running(self) -> list[_Job]:
        """The running batches' jobs not yet ended (a cancelled one ends before its batch does)."""
        return [
            job
            for batch in self._running_batches()
            for job in batch.jobs
            if self._jobs.get(job.spec.job_id) is job
        ]

    # ------------------------------------------------------------------ worker threads

    def _take_batch(self, slot: WorkerSlot, engine_gen: int, slot_gen: int) -> RunningBatch | None:
        """Block until there is work for this idle slot; None when the slot must end."""

        def current() -> bool:
            return engine_gen == self._generation and slot_gen == slot.generation

        with self._work:
            slot.waiting = True
            while current() and (
                not len(self._queue) or self._state == "draining" or self._better_slot(slot)
            ):
                self._work.wait()
            slot.waiting = False
            if not current():
                return None
            picked = self._queue.next_batch(self._batch_budget(slot))
            jobs = [self._jobs[queued.job_id] for queued in picked]
            self._dispatched += 1
            batch = RunningBatch(jobs, time.monotonic(), self._dispatched, slot, slot_gen)
            slot.running = batch
            slot.modes.update(job.spec.request.mode for job in jobs)
            if len(self._queue):
                self._work.notify_all()  # more work: a worker that deferred looks again
            # Posted under the lock: the loop sees batches start in the order they were taken,
            # whichever worker took them.
            self._post(self._batch_started, batch)
        return batch

    def _batch_budget(self, slot: WorkerSlot) -> int:
        """The budget of the batch ``slot`` takes: with other workers idle, its even share.

        Sixteen compatible jobs and two idle workers make two batches of eight, which end
        together, not one of sixteen beside an idle device; a worker that finishes early takes
        the next share. Only when the head's kind of work is all that waits: otherwise the other
        worker takes other work, and a held-back share would wait a whole batch. And only with
        workers that have the head's mode built when this one has: a cold one would load a
        pipeline (seconds, and GPU memory) for half a batch. Called with the lock held.
        """
        idle = [other for other in self.workers if other is not slot and other.idle]
        head = self._queue.head() if idle else None  # one worker, or none idle: the usual case
        if head is None:
            return self.config.batch_budget
        compatible = self._queue.compatible_size(head)
        if compatible < self._queue.waiting_size():
            return self.config.batch_budget
        mode = self._jobs[head.job_id].spec.request.mode
        warm = mode in slot.modes
        helpers = sum(1 for other in idle if mode in other.modes or not warm)
        if not helpers:
            return self.config.batch_budget
        share = -(-compatible // (helpers + 1))  # rounded up
        return min(self.config.batch_budget, share)

    def _better_slot(self, slot: WorkerSlot) -> bool:
        """Leave the next batch to another idle worker that has its mode's pipeline built.

        A worker builds a mode's pipeline (and loads its companion) the first time it runs that
        mode; another worker that already has it runs the batch sooner. The one that has it never
        defers, so the batch is always taken. Called with the lock held.
        """
        if len(self.workers) == 1 or not len(self._queue):
            return False
        head = self._jobs[self._queue.head().job_id].spec.request.mode
        if head in slot.modes:
            return False
        better = [other for other in self.workers if other.idle and head in other.modes]
        if better:
            self._work.notify_all()  # make sure the worker that has it wakes for it
        return bool(better)

    def _finish_batch(
        self, slot: WorkerSlot, batch: RunningBatch, outcomes, engine_gen: int, slot_gen: int
    ) -> bool:
        """Hand a batch's outcomes back; False when this slot's thread must end."""
        with self._work:
            if engine_gen != self._generation or slot_gen != slot.generation:
                return False  # the watchdog already failed these jobs and started a new worker
            slot.running = None
        self._post(self._batch_ended, batch, outcomes)
        return True

    def _give_back(
        self, slot: WorkerSlot, batch: RunningBatch, engine_gen: int, slot_gen: int, reason: str
    ) -> bool:
        """A lost worker's batch returns to the queue; False when this slot's thread must end."""
        with self._work:
            if engine_gen != self._generation or slot_gen != slot.generation:
                return False
            slot.running = None
            # It starts afresh: not a worker to leave the lost batch to (it has no pipelines).
            slot.loading, slot.modes = True, set()
        self._post(self._batch_lost, batch, reason)
        return True

    def _cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            # A job the engine no longer holds (cancelled, stopped, timed out) is cancelled.
            return job is None or job.cancel_requested

    def _post(self, callback, *args) -> None:
        assert self._loop is not None
        # A closed loop means nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)

    # ------------------------------------------------------------------ loop-side callbacks

    def _worker_ready(self, slot: WorkerSlot) -> None:
        self._starting.discard(slot.index)
        if not self._starting and self._ready is not None and not self._ready.done():
            self._ready.set_result(None)

    def _worker_failed_to_start(self, exc: BaseException) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(exc)
        elif self._state in ("running", "draining"):
            self._worker_died(exc, self._generation)

    def _worker_died(self, exc: BaseException, generation: int) -> None:
        with self._work:
            if generation != self._generation or self._state not in ("running", "draining"):
                return
            self._state = "dead"
            self._generation += 1
            open_jobs = list(self._jobs.values())
            self._jobs.clear()
            for job in open_jobs:
                self._queue.cancel(job.spec.job_id)
            for slot in self.workers:
                slot.running = None
            self._open_batches = 0
        reason = f"the GPU worker stopped unexpectedly ({type(exc).__name__}); tell the operator"
        for job in open_jobs:
            self._end(job, JobFailed(reason, exc))

    def _batch_started(self, batch: RunningBatch) -> None:
        self._open_batches += 1
        self.metrics.batch_started(len(batch.jobs))
        for place, job in enumerate(batch.jobs, start=1):
            if not job.position:
                # Taken before its place was published: every job is told a place before it
                # starts. A batch is its head's turn and then riders in turn order, so this is
                # the job's place in the line (a lower bound for a rider behind other work).
                job.position = place
                job.handle._emit(JobQueued(place))
            job.started_at = batch.started_at
            waited = batch.started_at - job.submitted_at
            self.metrics.started(waited)
            job.handle._emit(JobStarted(batch_size=len(batch.jobs), waited_s=waited))
        self._publish_positions_soon()

    def _progress(self, job_ids: Sequence[str], step: int, total: int) -> None:
        for job_id in job_ids:
            job = self._jobs.get(job_id)
            if job is not None:
                job.handle._emit(JobProgress(step, total))

    def _batch_lost(self, batch: RunningBatch, reason: str) -> None:
        """Queue a lost batch's jobs again; one lost twice is set aside (it may be the cause)."""
        self._open_batches -= 1
        self.metrics.worker_restarted()
        quarantined, again = [], []
        with self._work:
            for job in batch.jobs:
                if self._jobs.get(job.spec.job_id) is not job:
                    continue  # cancelled or stopped meanwhile
                job.worker_losses += 1
                if job.worker_losses >= 2 or job.cancel_requested or job.queued is None:
                    quarantined.append(self._jobs.pop(job.spec.job_id))
                    continue
                job.started_at = None
                job.position = 0  # told its place again, before it starts again
                again.append(job.queued)
            # At the head of their users' queues, past the caps, their turns refunded.
            self._queue.requeue(again)
            self._work.notify()
        for job in quarantined:
            if job.cancel_requested:
                self._end(job, JobCancelled(while_running=True))
            else:
                self._end(
                    job,
                    JobFailed(
                        "the GPU worker stopped twice while running this job, so it was set "
                        f"aside ({reason})"
                    ),
                )
        self._publish_positions_soon(force=True)

    def _batch_ended(self, batch: RunningBatch, outcomes: dict[str, Outcome]) -> None:
        self._open_batches -= 1
        with self._lock:
            # Only jobs still held: a cancelled one has ended already, and its id may be reused.
            jobs = [job for job in batch.jobs if self._jobs.get(job.spec.job_id) is job]
            for job in jobs:
                del self._jobs[job.spec.job_id]
        for job in jobs:
            self._end(job, _event_for(outcomes[job.spec.job_id], job))

    def _end(self, job: _Job, event: JobEvent) -> None:
        ran = None if job.started_at is None else time.monotonic() - job.started_at
        if isinstance(event, JobFinished):
            result = event.result
            delivered = len(result.images) + len(result.animations)
            self.metrics.ended("finished", ran_s=ran, images=delivered, redecoded=result.redecoded)
        elif isinstance(event, JobCancelled):
            self.metrics.ended("cancelled", ran_s=ran)
        else:
            self.metrics.ended("failed", ran_s=ran)
        job.handle._emit(event)

    def _publish_positions_soon(self, *, force: bool = False) -> None:
        """Publish waiting jobs' places at the end of this turn of the loop (loop side only).

        ``force`` tells every waiting job its place, changed or not (after a lost batch).
        """
        self._positions_forced |= force
        if not self._positions_due:
            self._positions_due = True
            assert self._loop is not None
            self._loop.call_soon(self._publish_positions)

    def _publish_positions(self) -> None:
        force, self._positions_forced, self._positions_due = self._positions_forced, False, False
        with self._lock:
            order = [
                (self._jobs[q.job_id], place)
                for place, q in enumerate(self._queue.ordered(), start=1)
                if q.job_id in self._jobs
            ]
        for job, place in order:
            if force or place != job.position:
                job.position = place
                job.handle._emit(JobQueued(place))

    async def _watch(self) -> None:
        """Fail a batch that overran its limit by the grace period and replace its worker."""
        limit = self.config.job_timeout_s + self.config.hang_grace_s
        while True:
            await asyncio.sleep(self.config.watchdog_interval_s)
            for slot in self.workers:
                self._check_overrun(slot, limit)

    def _check_overrun(self, slot: WorkerSlot, limit: float) -> None:
        with self._work:
            batch = slot.running
            if batch is None or time.monotonic() - batch.started_at <= limit:
                return
            log.error(
                "a batch ran %.0f s past its limit; replacing GPU worker %d", limit, slot.index
            )
            slot.running = None
            self._open_batches -= 1  # its end will never be posted
            slot.generation += 1
            slot.loading, slot.modes = True, set()  # a fresh thread loads a fresh runner
            jobs = [self._jobs.pop(job.spec.job_id, None) for job in batch.jobs]
            self._work.notify_all()
        slot.spawn(self)
        reason = (
            f"it took longer than the {self.config.job_timeout_s:.0f} s limit and was "
            "stopped; the GPU worker was restarted"
        )
        for job in filter(None, jobs):
            self._end(job, JobFailed(reason))


def _event_for(outcome: Outcome, job: _Job) -> JobEvent:
    if outcome.result is not None:
        waited = (job.started_at or job.submitted_at) - job.submitted_at
        ran = time.monotonic() - (job.started_at or time.monotonic())
        return JobFinished(outcome.result, waited_s=waited, ran_s=ran)
    if outcome.cancelled:
        return JobCancelled(while_running=True)
    return JobFailed(outcome.reason or "the job failed", outcome.error)
