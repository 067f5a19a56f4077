"""One worker slot: a thread that takes batches from the scheduler and drives one device's runner.

The runner is where the models live: a PipelineSet in this process, a ProcessRunner (a child
process on one device) or a Ray actor. A slot whose runner is lost builds a fresh one while the
other slots keep serving; the lost batch goes back to the scheduler, so an idle slot retries it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from generation.engine.batch_execution import BatchExecutor
from generation.engine.worker_process import WorkerLost

if TYPE_CHECKING:
    from generation.engine.scheduler import Engine, _Job

log = logging.getLogger(__name__)


@dataclass
class RunningBatch:
    """A batch a slot is running; ``seq`` is its place in the scheduler's dispatch order."""

    jobs: list[_Job]
    started_at: float
    seq: int
    slot: WorkerSlot
    generation: int
    finished_ids: set[str] = field(default_factory=set)


class WorkerSlot:
    """One device's worker. ``generation`` changes when the watchdog gives up on its thread."""

    def __init__(self, index: int, factory: Callable[[], Any]) -> None:
        self.index = index
        self.factory = factory
        self.runner: Any = None
        self.running: RunningBatch | None = None
        self.generation = 0
        self.thread: threading.Thread | None = None
        self.batches = 0  # batches this slot has run, for measurements
        self.loading = True  # building a runner: it takes no batch meanwhile
        # In the scheduler's wait for work (set and cleared under its lock, which this thread
        # gives up only inside the wait): a notify may wake it.
        self.waiting = False
        # Modes whose pipelines this worker has built: a batch of one of them runs here sooner.
        self.modes: set = set()

    @property
    def idle(self) -> bool:
        """Ready for a batch and running none (read with the scheduler's lock held)."""
        return not self.loading and self.running is None

    def spawn(self, engine: Engine) -> None:
        generation = self.generation
        thread = threading.Thread(
            target=self._main,
            args=(engine, engine._generation, generation),
            name=f"gpu-worker-{self.index}-{generation}",
            daemon=True,  # a hung worker must not keep the process alive at exit
        )
        self.thread = thread
        thread.start()

    def _main(self, engine: Engine, engine_generation: int, generation: int) -> None:
        try:
            runner = self._load()
        except BaseException as exc:
            log.exception("GPU worker %d could not load its models", self.index)
            engine._post(engine._worker_failed_to_start, exc)
            return
        self.runner = runner
        engine._post(engine._worker_ready, self)
        # The runner this thread holds now: a lost worker process is replaced inside _serve, and
        # the replacement is the one to close at the end (else its process outlives the engine).
        current = [runner]
        try:
            self._serve(engine, current, engine_generation, generation)
        except BaseException as exc:
            log.exception("GPU worker %d died", self.index)
            engine._post(engine._worker_died, exc, engine_generation)
        finally:
            close_runner(current[0])

    def _serve(
        self, engine: Engine, current: list, engine_generation: int, generation: int
    ) -> None:
        executor = BatchExecutor(current[0], engine.config.job_timeout_s)

        def report(ids, step: int, total: int) -> None:
            engine._post(engine._progress, ids, step, total)

        while True:
            batch = engine._take_batch(self, engine_generation, generation)
            if batch is None:
                return  # stopped, or replaced after a hang
            self.batches += 1
            try:
                outcomes = executor.execute(
                    [job.spec for job in batch.jobs],
                    report=report,
                    cancelled=engine._cancel_requested,
                )
            except WorkerLost as lost:
                # The worker died (killed, crashed, hung past its heartbeat, or a broken device):
                # its jobs go back to the scheduler once, and an idle worker takes them while
                # this one starts afresh.
                log.error("GPU worker %d was lost: %s", self.index, lost)
                close_runner(current[0])
                if not engine._give_back(self, batch, engine_generation, generation, str(lost)):
                    return
                runner = self._load()  # raises if the device is gone: engine dead
                current[0] = self.runner = runner
                executor = BatchExecutor(runner, engine.config.job_timeout_s)
                engine._post(engine._worker_ready, self)
                continue
            if not engine._finish_batch(self, batch, outcomes, engine_generation, generation):
                return  # the watchdog already failed these jobs and started a new worker

    def _load(self):
        """A fresh runner; a fresh process or actor has built no mode's pipeline yet."""
        self.loading, self.modes = True, set()
        try:
            return self.factory()
        finally:
            self.loading = False


def close_runner(runner) -> None:
    """End a runner that owns a process or an actor; an in-process one has nothing to end."""
    close = getattr(runner, "close", None)
    if close is not None:
        close()


def elapsed(batch: RunningBatch) -> float:
    return time.monotonic() - batch.started_at
