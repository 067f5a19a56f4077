"""The GPU job engine: a fair queue, one worker thread per device, and handles on the event loop.

The event loop only queues, cancels and hands out events; model code runs on the worker thread,
which reports back with ``loop.call_soon_threadsafe``. A watchdog on the loop fails a batch that
overruns its wall-clock limit and replaces the hung worker thread with a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from generation.batch_execution import BatchExecutor, Outcome
from generation.events import (
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
from generation.fair_queue import FairQueue, QueuedJob
from generation.families import ModelFamily
from generation.job_handle import JobHandle
from generation.metrics import EngineMetrics, MetricsSnapshot
from generation.requests import (
    GenerationRequest,
    GenerationResult,
    gpu_cost,
    validate_request,
)
from generation.styles import StyleLibrary
from generation.worker_process import WorkerLost

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
    position: int = 0
    started_at: float | None = None
    cancel_requested: bool = False
    queued: QueuedJob | None = None  # what the fair queue held, to queue it again
    worker_losses: int = 0  # worker processes that died while running this job


@dataclass
class _RunningBatch:
    jobs: list[_Job]
    started_at: float
    generation: int
    finished_ids: set[str] = field(default_factory=set)


class Engine:
    """Submit jobs, get handles. ``async with Engine(...)`` starts the worker and stops it."""

    def __init__(
        self,
        runner_factory: Callable[[], BatchRunner],
        *,
        family: ModelFamily,
        styles: StyleLibrary | None = None,
        config: EngineConfig | None = None,
    ) -> None:
        self.family = family
        self.styles = styles or StyleLibrary()
        self.config = config or EngineConfig()
        self.metrics = EngineMetrics()
        self._runner_factory = runner_factory
        self._runner: BatchRunner | None = None
        self._queue = FairQueue(
            per_user_cap=self.config.per_user_cap,
            global_cap=self.config.global_cap,
            on_superseded=self._superseded,  # latest wins within a coalesce key
        )
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._jobs: dict[str, _Job] = {}
        self._running: _RunningBatch | None = None
        # Batches whose start the loop has seen and whose end it has not (loop side only): the
        # worker clears _running before the loop has the results, so drain waits on this too.
        self._open_batches = 0
        self._generation = 0
        self._state = "new"  # new → starting → running → (draining →) stopped | dead
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: asyncio.Task | None = None
        self._ready: asyncio.Future | None = None
        self._worker: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start the worker; returns once its models are loaded (raises if loading fails)."""
        if self._state != "new":
            raise EngineStopped(f"the engine is {self._state}; make a new one")
        self._loop = asyncio.get_running_loop()
        self._state = "starting"
        self._ready = self._loop.create_future()
        self._spawn_worker()
        try:
            await self._ready
        except BaseException:
            self._state = "dead"
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
                if self._running is None and not self._open_batches:
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
            self._running = None
            self._work.notify_all()
        for job in leftovers:
            if interrupt:
                job.handle._emit(JobInterrupted(was_running=job.started_at is not None))
            else:
                self._end(job, JobFailed("the bot is shutting down; please try again shortly"))
        if self._watchdog is not None:
            self._watchdog.cancel()
        # Only the current worker is waited for; a replaced (hung) one is a daemon left behind.
        if self._worker is not None:
            await asyncio.to_thread(self._worker.join, timeout_s)
        return len(leftovers)

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
            running = self._running.jobs if self._running else ()
            if spec.job_id in self._jobs or any(j.spec.job_id == spec.job_id for j in running):
                raise ValueError(f"job {spec.job_id} is already in the engine")
            position = self._queue.push(queued, enforce_caps=enforce_caps)
            job = _Job(spec, handle, time.monotonic(), position, queued=queued)
            self._jobs[spec.job_id] = job
            self._work.notify()
        self.metrics.submitted()
        handle._emit(JobQueued(position))
        # The fair order may put the newcomer ahead of others' waiting jobs: tell them now, not
        # at the next batch.
        self._publish_positions()
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
            self._publish_positions()
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
        memory = self._runner.memory_bytes() if self._runner is not None else None
        return self.metrics.snapshot(queue_depth=depth, running_jobs=running, memory=memory)

    def prometheus_text(self) -> bytes:
        return self.metrics.prometheus_text(self.snapshot())

    def _held_running(self) -> list[_Job]:
        """The running batch's jobs not yet ended (a cancelled one ends before its batch does)."""
        batch = self._running
        if batch is None:
            return []
        return [job for job in batch.jobs if self._jobs.get(job.spec.job_id) is job]

    # ------------------------------------------------------------------ worker thread

    def _spawn_worker(self) -> None:
        generation = self._generation
        thread = threading.Thread(
            target=self._worker_main,
            args=(generation,),
            name=f"gpu-worker-{generation}",
            daemon=True,  # a hung worker must not keep the process alive at exit
        )
        self._worker = thread
        thread.start()

    def _worker_main(self, generation: int) -> None:
        try:
            runner = self._runner_factory()
        except BaseException as exc:
            log.exception("the GPU worker could not load its models")
            self._post(self._worker_failed_to_start, exc)
            return
        self._runner = runner
        self._post(self._worker_ready)
        # The runner this thread holds now: a lost worker process is replaced inside _serve, and
        # the replacement is the one to close at the end (else its process outlives the engine).
        current = [runner]
        try:
            self._serve(current, generation)
        except BaseException as exc:
            log.exception("the GPU worker died")
            self._post(self._worker_died, exc, generation)
        finally:
            _close_runner(current[0])

    def _serve(self, current: list[BatchRunner], generation: int) -> None:
        runner = current[0]
        executor = BatchExecutor(runner, self.config.job_timeout_s)
        while True:
            with self._work:
                while generation == self._generation and (
                    not len(self._queue) or self._state == "draining"
                ):
                    self._work.wait()
                if generation != self._generation:
                    return  # stopped, or replaced after a hang
                picked = self._queue.next_batch(self.config.batch_budget)
                jobs = [self._jobs[queued.job_id] for queued in picked]
                batch = _RunningBatch(jobs, time.monotonic(), generation)
                self._running = batch
            self._post(self._batch_started, batch)
            try:
                outcomes = executor.execute(
                    [job.spec for job in jobs],
                    report=lambda ids, step, total: self._post(self._progress, ids, step, total),
                    cancelled=self._cancel_requested,
                )
            except WorkerLost as lost:
                # A worker process died (killed, crashed, hung past its heartbeat, or a broken
                # device): its jobs go back in the queue once, and a fresh worker takes over.
                log.error("the GPU worker process was lost: %s", lost)
                _close_runner(runner)
                with self._work:
                    if generation != self._generation:
                        return
                    self._running = None
                self._post(self._batch_lost, batch, str(lost))
                runner = self._runner_factory()  # raises if the device is gone: engine dead
                current[0] = self._runner = runner
                executor = BatchExecutor(runner, self.config.job_timeout_s)
                continue
            with self._work:
                if generation != self._generation:
                    return  # the watchdog already failed these jobs and started a new worker
                self._running = None
            self._post(self._batch_ended, batch, outcomes)

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

    def _worker_ready(self) -> None:
        if self._ready is not None and not self._ready.done():
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
            self._running = None
            self._open_batches = 0
        reason = f"the GPU worker stopped unexpectedly ({type(exc).__name__}); tell the operator"
        for job in open_jobs:
            self._end(job, JobFailed(reason, exc))

    def _batch_started(self, batch: _RunningBatch) -> None:
        self._open_batches += 1
        self.metrics.batch_started(len(batch.jobs))
        for job in batch.jobs:
            job.started_at = batch.started_at
            waited = batch.started_at - job.submitted_at
            self.metrics.started(waited)
            job.handle._emit(JobStarted(batch_size=len(batch.jobs), waited_s=waited))
        self._publish_positions()

    def _progress(self, job_ids: Sequence[str], step: int, total: int) -> None:
        for job_id in job_ids:
            job = self._jobs.get(job_id)
            if job is not None:
                job.handle._emit(JobProgress(step, total))

    def _batch_lost(self, batch: _RunningBatch, reason: str) -> None:
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
        self._publish_positions(force=True)

    def _batch_ended(self, batch: _RunningBatch, outcomes: dict[str, Outcome]) -> None:
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

    def _publish_positions(self, *, force: bool = False) -> None:
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
            with self._work:
                batch = self._running
                if batch is None or time.monotonic() - batch.started_at <= limit:
                    continue
                log.error("a batch ran %.0f s past its limit; replacing the GPU worker", limit)
                self._running = None
                self._open_batches = 0  # its end will never be posted
                self._generation += 1
                jobs = [self._jobs.pop(job.spec.job_id, None) for job in batch.jobs]
                self._work.notify_all()
            self._spawn_worker()
            reason = (
                f"it took longer than the {self.config.job_timeout_s:.0f} s limit and was "
                "stopped; the GPU worker was restarted"
            )
            for job in filter(None, jobs):
                self._end(job, JobFailed(reason))


def _close_runner(runner) -> None:
    """End a runner that owns a process (ProcessRunner); an in-process one has nothing to end."""
    close = getattr(runner, "close", None)
    if close is not None:
        close()


def _event_for(outcome: Outcome, job: _Job) -> JobEvent:
    if outcome.result is not None:
        waited = (job.started_at or job.submitted_at) - job.submitted_at
        ran = time.monotonic() - (job.started_at or time.monotonic())
        return JobFinished(outcome.result, waited_s=waited, ran_s=ran)
    if outcome.cancelled:
        return JobCancelled(while_running=True)
    return JobFailed(outcome.reason or "the job failed", outcome.error)
