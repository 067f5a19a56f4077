"""Run one batch on the worker thread with the fault policy: retry alone, split on OOM, time out."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from generation.engine.events import JobSpec
from generation.errors import GenerationCancelled, GenerationError
from generation.modes.requests import GenerationResult

log = logging.getLogger(__name__)

Report = Callable[[Sequence[str], int, int], None]
IsCancelled = Callable[[str], bool]


@dataclass(frozen=True)
class Outcome:
    """How one job of a batch ended: a result, a cancellation, or a reason for the user."""

    result: GenerationResult | None = None
    cancelled: bool = False
    reason: str | None = None
    error: BaseException | None = None


class JobTimedOut(GenerationError):
    """A job ran past its wall-clock limit (checked between denoising steps)."""


class BatchExecutor:
    """Wraps a runner (a PipelineSet) with the engine's fault handling; worker thread only."""

    def __init__(self, runner, job_timeout_s: float) -> None:
        self._runner = runner
        self._timeout_s = job_timeout_s

    def execute(
        self, specs: Sequence[JobSpec], *, report: Report, cancelled: IsCancelled
    ) -> dict[str, Outcome]:
        """One outcome per job id. Never raises for a job's own failure."""
        deadline = time.monotonic() + self._timeout_s
        return self._run(list(specs), deadline, report, cancelled, may_split=True)

    def _run(self, specs, deadline, report, cancelled, *, may_split: bool) -> dict[str, Outcome]:
        # A job cancelled before this call (or during a failed one) is not run (again).
        outcomes = {
            spec.job_id: Outcome(cancelled=True) for spec in specs if cancelled(spec.job_id)
        }
        specs = [spec for spec in specs if spec.job_id not in outcomes]
        if not specs:
            return outcomes
        ids = [spec.job_id for spec in specs]

        def on_step(step: int, total: int) -> bool:
            # A cancelled job leaves the batch without stopping it: restarting its batch-mates
            # would cost them every step done so far, under the same deadline.
            live = [job_id for job_id in ids if not cancelled(job_id)]
            if not live:
                return False  # nobody wants this call any more: the pipeline raises for us
            report(live, step, total)
            if time.monotonic() > deadline:
                raise JobTimedOut(
                    f"it took longer than the {self._timeout_s:.0f} s limit and was stopped"
                )
            return True

        failure: BaseException | None = None
        out_of_memory = False
        try:
            results = self._runner.run([spec.request for spec in specs], on_step)
            # The output of a job cancelled while its batch ran is dropped here.
            return outcomes | {
                spec.job_id: Outcome(cancelled=True) if cancelled(spec.job_id) else Outcome(result)
                for spec, result in zip(specs, results, strict=True)
            }
        except GenerationCancelled:
            # on_step stops a call only when every job in it is cancelled, and a cancel is final.
            return outcomes | {job_id: Outcome(cancelled=True) for job_id in ids}
        except JobTimedOut as exc:
            return outcomes | {job_id: Outcome(reason=str(exc)) for job_id in ids}
        except Exception as exc:
            if _is_out_of_memory(exc):
                out_of_memory = True  # drop the exception: its traceback pins GPU tensors
            else:
                log.exception("batch of %d failed (jobs %s)", len(ids), ", ".join(ids))
                failure = exc.with_traceback(None)
        # Outside the except block, so the traceback's frames (and their tensors) are gone.
        if out_of_memory:
            release_memory()
            if may_split and len(specs) > 1:
                half = len(specs) // 2
                log.warning("out of GPU memory with %d jobs; retrying as two halves", len(specs))
                outcomes |= self._run(specs[:half], deadline, report, cancelled, may_split=False)
                return outcomes | self._run(
                    specs[half:], deadline, report, cancelled, may_split=False
                )
            return outcomes | {job_id: Outcome(reason=_oom_reason(specs)) for job_id in ids}
        if len(specs) > 1:  # find the culprit: everyone else still gets their images
            for spec in specs:
                outcomes |= self._run([spec], deadline, report, cancelled, may_split=False)
            return outcomes
        return outcomes | {ids[0]: Outcome(reason=_reason_for(failure), error=failure)}


def _is_out_of_memory(exc: BaseException) -> bool:
    # torch.OutOfMemoryError on CUDA; older builds and MPS raise RuntimeError("... out of memory").
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def release_memory() -> None:
    """Free what a failed GPU call left behind (called once its exception and frames are gone)."""
    import gc

    gc.collect()
    from generation.models.devices import empty_device_cache

    empty_device_cache()


def _oom_reason(specs: Sequence[JobSpec]) -> str:
    request = specs[0].request
    return (
        f"the GPU ran out of memory at {request.width}×{request.height} with {request.count} "
        "image(s); try a smaller size or fewer images"
    )


def _reason_for(failure: BaseException | None) -> str:
    if isinstance(failure, GenerationError):
        return str(failure)
    name = type(failure).__name__ if failure is not None else "unknown error"
    detail = str(failure).splitlines()[0][:200] if failure is not None and str(failure) else ""
    return (
        f"generation failed ({name}{': ' + detail if detail else ''}); the operator can see the log"
    )
