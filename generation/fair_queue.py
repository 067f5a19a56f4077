"""FairQueue: who runs next on the GPU. Pure policy: no asyncio, no torch, no clocks.

Servers take turns; inside a server, users take turns; a user's own jobs run in the order they were
queued. A batch starts from the job whose turn it is and is filled with compatible jobs (equal
``batch_key``) in turn order, up to a budget of images × pixels.

Wait bound: newcomers (a new server, a new user, a user's later jobs) always join behind the
existing rotation, served users go to the back, and every batch serves at least the head job. A
user's oldest waiting job therefore starts within (U + 1) × S batches, U being the users ahead of it
in its server and S the servers waiting, however many compatible batches form in between.
``position()`` gives the exact place when nobody new arrives.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any


class QueueFull(Exception):
    """The queue (or this user's share of it) has no room; ``str()`` is a message for the user."""


@dataclass(frozen=True)
class QueuedJob:
    """What the queue needs to know about a job; ``payload`` is carried, never inspected."""

    job_id: str
    user_id: int
    guild_id: int | None  # None for direct messages: they form one "server" of their own
    batch_key: Hashable
    images: int = 1
    pixels: int = 512 * 512  # per image (× frames for animations)
    payload: Any = field(default=None, compare=False)

    @property
    def cost(self) -> int:
        return self.images * self.pixels


class FairQueue:
    """Round-robin across servers, then across users within a server, with caps and batching."""

    def __init__(self, *, per_user_cap: int = 5, global_cap: int = 200) -> None:
        if per_user_cap < 1 or global_cap < 1:
            raise ValueError("caps must be at least 1")
        self.per_user_cap = per_user_cap
        self.global_cap = global_cap
        # server → (user → that user's jobs, oldest first); dict order is the turn order.
        self._servers: OrderedDict[int | None, OrderedDict[int, deque[QueuedJob]]] = OrderedDict()
        self._by_id: dict[str, QueuedJob] = {}

    # ------------------------------------------------------------------ writing

    def push(self, job: QueuedJob, *, enforce_caps: bool = True) -> int:
        """Queue ``job`` and return its 1-based position in the turn order.

        ``enforce_caps=False`` is for jobs accepted before (recovered after a restart): the caps
        limit what is newly accepted, never what was promised already.
        """
        if job.job_id in self._by_id:
            raise ValueError(f"job {job.job_id} is already queued")
        if enforce_caps and len(self._by_id) >= self.global_cap:
            raise QueueFull(
                f"the queue is full ({self.global_cap} jobs waiting); try again in a minute"
            )
        users = self._servers.setdefault(job.guild_id, OrderedDict())
        jobs = users.setdefault(job.user_id, deque())
        if enforce_caps and len(jobs) >= self.per_user_cap:
            if not jobs:
                del users[job.user_id]
            raise QueueFull(
                f"you already have {len(jobs)} jobs waiting (the limit is {self.per_user_cap}); "
                "wait for one to finish or cancel one"
            )
        jobs.append(job)
        self._by_id[job.job_id] = job
        return self.position(job.job_id)

    def cancel(self, job_id: str) -> QueuedJob | None:
        """Remove a waiting job; returns it, or None when it is not waiting (any more)."""
        job = self._by_id.pop(job_id, None)
        if job is None:
            return None
        self._remove(job)
        return job

    def next_batch(self, budget: int) -> list[QueuedJob]:
        """Take the job whose turn it is plus compatible jobs in turn order, up to ``budget``.

        ``budget`` counts images × pixels. The head job is always taken, even if it alone is
        over budget, so an oversized job runs by itself instead of never.
        """
        order = self._turn_order()
        head = next(order, None)
        if head is None:
            return []
        batch, spent = [head], head.cost
        for job in order:
            if job.batch_key == head.batch_key and spent + job.cost <= budget:
                batch.append(job)
                spent += job.cost
        for job in batch:
            # Riding along in a batch is a turn too, exactly as if the jobs ran one by one.
            self._rotate_after_serving(job)
            del self._by_id[job.job_id]
            self._remove(job)
        return batch

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._by_id

    def position(self, job_id: str) -> int | None:
        """1-based place in the turn order, or None when the job is not waiting."""
        if job_id not in self._by_id:
            return None
        for place, job in enumerate(self._turn_order(), start=1):
            if job.job_id == job_id:
                return place
        raise AssertionError("a queued job is missing from the turn order")

    def jobs_of(self, user_id: int) -> list[QueuedJob]:
        """This user's waiting jobs, in every server, oldest first."""
        return [job for job in self._by_id.values() if job.user_id == user_id]

    def ordered(self) -> list[QueuedJob]:
        """Every waiting job in turn order (what runs first comes first, batching aside)."""
        return list(self._turn_order())

    # ------------------------------------------------------------------ internals

    def _turn_order(self) -> Iterator[QueuedJob]:
        """Simulate the turns on copies: servers rotate, users rotate inside each server."""
        servers = deque(
            (guild, deque((user, deque(jobs)) for user, jobs in users.items()))
            for guild, users in self._servers.items()
        )
        while servers:
            guild, users = servers.popleft()
            user, jobs = users.popleft()
            yield jobs.popleft()
            if jobs:
                users.append((user, jobs))
            if users:
                servers.append((guild, users))

    def _rotate_after_serving(self, job: QueuedJob) -> None:
        """The served job's server and user go to the back of their turn orders."""
        self._servers.move_to_end(job.guild_id)
        self._servers[job.guild_id].move_to_end(job.user_id)

    def _remove(self, job: QueuedJob) -> None:
        users = self._servers[job.guild_id]
        jobs = users[job.user_id]
        jobs.remove(job)
        if not jobs:
            del users[job.user_id]
        if not users:
            del self._servers[job.guild_id]
