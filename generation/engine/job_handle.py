"""JobHandle: the consumer's end of one job — an async iterator of events, latest-wins progress."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from generation.engine.events import (
    COALESCING,
    TERMINAL,
    JobCancelled,
    JobCancelledError,
    JobEvent,
    JobFailed,
    JobFailedError,
    JobFinished,
    JobInterrupted,
)
from generation.modes.requests import GenerationResult


class JobHandle:
    """Events of one job, in order, with unread progress collapsed to the newest.

    Lives on the event loop: the engine feeds it with ``call_soon_threadsafe`` from the worker.
    Iterate with ``async for event in handle``; the iteration ends after the terminal event.
    ``await handle.result()`` returns the images or raises the job's failure or cancellation.
    """

    def __init__(self, job_id: str, cancel: Callable[[str], bool]) -> None:
        self.job_id = job_id
        self._cancel = cancel
        self._pending: deque[JobEvent] = deque()
        self._wakeup = asyncio.Event()
        self._terminal: JobEvent | None = None
        self._done = asyncio.get_running_loop().create_future()

    # ------------------------------------------------------------------ engine side

    def _emit(self, event: JobEvent) -> None:
        if self._terminal is not None:
            return  # a job ends once; late events from an abandoned worker are dropped
        pending = self._pending
        if isinstance(event, COALESCING) and pending and type(pending[-1]) is type(event):
            pending.pop()  # the consumer has not read it yet: only the newest counts
        self._pending.append(event)
        if isinstance(event, TERMINAL):
            self._terminal = event
            self._done.set_result(event)
        self._wakeup.set()

    # ------------------------------------------------------------------ consumer side

    @property
    def done(self) -> bool:
        return self._terminal is not None

    def cancel(self) -> bool:
        """Ask to cancel in any state; False when the job had already ended."""
        if self.done:
            return False
        return self._cancel(self.job_id)

    def __aiter__(self) -> JobHandle:
        return self

    async def __anext__(self) -> JobEvent:
        while not self._pending:
            if self._terminal is not None:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._pending.popleft()

    async def wait(self) -> JobEvent:
        """The terminal event (finished, failed or cancelled), without reading the others."""
        return await asyncio.shield(self._done)

    async def result(self) -> GenerationResult:
        """The result, or the job's failure re-raised here as JobFailedError/JobCancelledError."""
        event = await self.wait()
        if isinstance(event, JobFinished):
            return event.result
        if isinstance(event, JobFailed):
            raise JobFailedError(event.reason) from event.error
        if isinstance(event, JobInterrupted):
            raise JobCancelledError(f"job {self.job_id} was interrupted: the engine stopped")
        assert isinstance(event, JobCancelled)
        raise JobCancelledError(f"job {self.job_id} was cancelled")
