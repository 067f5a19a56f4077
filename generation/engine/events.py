"""What the engine takes (JobSpec) and what a job's handle reports (events and errors)."""

from __future__ import annotations

from dataclasses import dataclass

from generation.errors import GenerationError
from generation.modes.requests import GenerationRequest, GenerationResult


@dataclass(frozen=True)
class JobSpec:
    """One job for the engine: plain values only, so it can cross threads or processes."""

    job_id: str
    user_id: int
    guild_id: int | None  # None for direct messages
    request: GenerationRequest
    # A newer job of the same key replaces this one while it still waits (latest wins): one
    # nudge session or canny loop. None: never replaced.
    coalesce_key: str | None = None


@dataclass(frozen=True)
class JobQueued:
    position: int  # 1-based place in the turn order


@dataclass(frozen=True)
class JobStarted:
    batch_size: int  # how many jobs share this GPU call
    waited_s: float


@dataclass(frozen=True)
class JobProgress:
    step: int
    total: int


@dataclass(frozen=True)
class JobFinished:
    result: GenerationResult
    waited_s: float
    ran_s: float


@dataclass(frozen=True)
class JobFailed:
    reason: str  # a sentence a user can read
    error: BaseException | None = None


@dataclass(frozen=True)
class JobCancelled:
    while_running: bool
    superseded: bool = False  # replaced while waiting by a newer job of its coalesce key


@dataclass(frozen=True)
class JobInterrupted:
    """The engine stopped before the job could finish; it is the caller's to run again later.

    A graceful stop ends queued jobs (and a batch that outran the drain) with this, not with a
    failure: the journal keeps them, and the next start runs them.
    """

    was_running: bool


JobEvent = (
    JobQueued | JobStarted | JobProgress | JobFinished | JobFailed | JobCancelled | JobInterrupted
)
# Only the latest of these matters to a consumer; a newer one replaces an unread older one.
COALESCING = (JobQueued, JobProgress)
TERMINAL = (JobFinished, JobFailed, JobCancelled, JobInterrupted)


class JobFailedError(GenerationError):
    """Raised by ``JobHandle.result()`` when the job failed; ``reason`` is for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JobCancelledError(GenerationError):
    """Raised by ``JobHandle.result()`` when the job was cancelled (or interrupted by a stop)."""


class EngineStopped(GenerationError):
    """The engine is not running (not started, stopped, or its worker died)."""
