"""FairQueue: who runs next on the GPU, by deficit round-robin on GPU cost. Pure policy.

No asyncio, no torch, no clocks. A job's ``cost`` is the GPU work it takes: images × pixels ×
frames × denoising steps, doubled when classifier-free guidance runs (``gpu_cost`` in
generation/modes/requests.py computes it; the queue only compares numbers).

The rule. Servers take turns, and inside the server whose turn it is, users take turns, both by
deficit round-robin on that cost. Every flow (a server; a user within its server) carries a
deficit: what it took beyond the credit it was given, so 0 or less between turns. A visit gives
the flow one quantum, the cost of the cheapest job at the head of a flow in that rotation; a flow
whose deficit is then above 0 runs its oldest job, is charged the job's cost and goes to the
back; a flow still in debt goes to the back without running. Equal jobs therefore alternate
exactly as plain round-robin, and a flow that took k quanta sits out about k - 1 rounds: while
user A pays back a 24-frame animation, user B runs 24 single images of the same size and steps.
A user's own jobs run in the order they were queued.

A debt outlives the jobs that made it: a flow with nothing waiting stays in its rotation, is
visited like the others (a user on its server's turns) and leaves once visits have paid it off,
so a user who waits for each result before sending the next still pays for what they ran.
Credit is never banked: a flow's deficit stops at 0.

Batches start from the job whose turn it is and are filled with compatible jobs (equal
``batch_key``) in turn order, up to a budget of images × pixels (``QueuedJob.size``). Riding
along is a turn taken early: the rider's user and server get one quantum, are charged its cost
and go to the back.

Wait bound: newcomers (a new server, a new user) join behind the existing rotation owing
nothing, and each turn sends the flows it visited (at least the one it served) behind those it
did not reach; riders go to the back too. So a flow with M flows ahead of it is visited within
M + 1 turns of its rotation, and every visit credits it a quantum q ≥ 1. A flow owing D runs
within V = ⌊D / q⌋ + 1 visits; D is at most what it took in its last batch, as waiting only pays
debts off. Servers take one turn per batch, users one per turn of their server, so a user's
oldest job starts within (U + 1) × V_user turns of its server, each within (S + 1) × V_server
batches, U and S the flows ahead of the user and of its server, however many jobs arrive after
it. A newcomer owes nothing (V = 1), and with equal costs nobody ever owes anything: then this is
the round-robin bound, (U + 1) × (S + 1) batches. (A cheaper job arriving lowers q, so a debt
takes more, cheaper batches to pay off.) ``position()`` gives the exact place when nobody new
arrives.

Latest wins: a job pushed with a ``coalesce_key`` (a nudge session, a canny loop) replaces a job
of the same key still waiting, in its place in the turn order, and the replaced one is handed
to ``on_superseded``: five quick clicks run at most two jobs, the one running when they came and
the newest. Replacing adds no waiting job, so the caps do not apply to it.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator
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
    cost: int = (
        1  # what its turn charges: GPU work (generation.modes.requests.gpu_cost), at least 1
    )
    payload: Any = field(default=None, compare=False)
    # Jobs of one key replace each other while waiting (latest wins); None never coalesces.
    coalesce_key: Hashable | None = None

    def __post_init__(self) -> None:
        if self.cost < 1:
            raise ValueError(f"job {self.job_id}: a turn costs at least 1, not {self.cost}")

    @property
    def size(self) -> int:
        """Its share of a batch's budget: images × pixels."""
        return self.images * self.pixels


class FairQueue:
    """Deficit round-robin by cost across servers, then users within a server; caps, batching."""

    def __init__(
        self,
        *,
        per_user_cap: int = 5,
        global_cap: int = 200,
        on_superseded: Callable[[QueuedJob], None] | None = None,
    ) -> None:
        if per_user_cap < 1 or global_cap < 1:
            raise ValueError("caps must be at least 1")
        self.per_user_cap = per_user_cap
        self.global_cap = global_cap
        self._on_superseded = on_superseded
        # Dict order is the turn order, at both levels.
        self._servers: OrderedDict[int | None, _Server] = OrderedDict()
        self._by_id: dict[str, QueuedJob] = {}
        self._by_key: dict[Hashable, str] = {}  # coalesce key → the waiting job that holds it

    # ------------------------------------------------------------------ writing

    def push(self, job: QueuedJob, *, enforce_caps: bool = True) -> None:
        """Queue ``job``; ``position()`` or ``ordered()`` tell its place.

        Pushing computes no position: that walks the whole turn order, and a burst of n jobs
        would walk it n times. ``enforce_caps=False`` is for jobs accepted before (recovered
        after a restart): the caps limit what is newly accepted, never what was promised already.
        """
        if job.job_id in self._by_id:
            raise ValueError(f"job {job.job_id} is already queued")
        if self._supersede(job):
            return
        if enforce_caps and len(self._by_id) >= self.global_cap:
            raise QueueFull(
                f"the queue is full ({self.global_cap} jobs waiting); try again in a minute"
            )
        server = self._servers.get(job.guild_id)
        user = server.users.get(job.user_id) if server is not None else None
        waiting = len(user.jobs) if user is not None else 0
        if enforce_caps and waiting >= self.per_user_cap:
            raise QueueFull(
                f"you already have {waiting} jobs waiting (the limit is {self.per_user_cap}); "
                "wait for one to finish or cancel one"
            )
        # A user still paying a debt keeps its place and its debt; a newcomer joins at the back.
        server = self._servers.setdefault(job.guild_id, _Server())
        server.users.setdefault(job.user_id, _User()).jobs.append(job)
        self._by_id[job.job_id] = job
        if job.coalesce_key is not None:
            self._by_key[job.coalesce_key] = job.job_id

    def _supersede(self, job: QueuedJob) -> bool:
        """Put ``job`` in the place of the waiting job of its coalesce key; False if none waits."""
        old = self._waiting_with_key(job.coalesce_key)
        if old is None:
            return False
        if (old.guild_id, old.user_id) != (job.guild_id, job.user_id):
            raise ValueError(f"job {job.job_id}: coalesce key {job.coalesce_key!r} is another's")
        jobs = self._servers[old.guild_id].users[old.user_id].jobs
        jobs[jobs.index(old)] = job
        del self._by_id[old.job_id]
        self._by_id[job.job_id] = job
        self._by_key[job.coalesce_key] = job.job_id
        if self._on_superseded is not None:
            self._on_superseded(old)
        return True

    def _waiting_with_key(self, key: Hashable | None) -> QueuedJob | None:
        if key is None or key not in self._by_key:
            return None
        return self._by_id.get(self._by_key[key])

    def _forget_key(self, job: QueuedJob) -> None:
        if job.coalesce_key is not None and self._by_key.get(job.coalesce_key) == job.job_id:
            del self._by_key[job.coalesce_key]

    def requeue(self, jobs: list[QueuedJob]) -> None:
        """Put back jobs taken in a batch whose work was lost (its worker died), turns refunded.

        Each goes back to the head of its user's jobs, in the order given, past the caps (they
        were accepted before), and its user and server get back what its turn charged, up to no
        debt: the batch-mates' GPU time was lost, not spent, so nobody pays for it twice.
        """
        for job in reversed(jobs):
            if job.job_id in self._by_id:
                raise ValueError(f"job {job.job_id} is already queued")
            server = self._servers.setdefault(job.guild_id, _Server())
            user = server.users.setdefault(job.user_id, _User())
            user.jobs.appendleft(job)
            user.deficit = min(user.deficit + job.cost, 0)
            server.deficit = min(server.deficit + job.cost, 0)
            self._by_id[job.job_id] = job
            # Its key is not taken again: it was running, so a newer job of its key never
            # replaces it (it was promised a run).

    def cancel(self, job_id: str) -> QueuedJob | None:
        """Remove a waiting job; returns it, or None when it is not waiting (any more)."""
        job = self._by_id.pop(job_id, None)
        if job is None:
            return None
        self._forget_key(job)
        self._servers[job.guild_id].users[job.user_id].jobs.remove(job)
        _tidy(self._servers, job)
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
        batch, spent = [head], head.size
        for job in order:
            if job.batch_key == head.batch_key and spent + job.size <= budget:
                batch.append(job)
                spent += job.size
        taken = _take_turn(self._servers)
        assert taken is head, "the turn taken is the one simulated"
        for job in batch[1:]:
            _ride(self._servers, job)
        for job in batch:
            del self._by_id[job.job_id]
            self._forget_key(job)  # running now: a newer job of its key waits, never replaces it
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

    def head(self) -> QueuedJob | None:
        """The job whose turn it is (the first of ``ordered()``, without walking the rest)."""
        return next(self._turn_order(), None)

    def compatible_size(self, job: QueuedJob) -> int:
        """Images × pixels waiting that could share a batch with ``job`` (``head()``, say)."""
        return sum(other.size for other in self._by_id.values() if other.batch_key == job.batch_key)

    def waiting_size(self) -> int:
        """Images × pixels of every waiting job."""
        return sum(job.size for job in self._by_id.values())

    def jobs_of(self, user_id: int) -> list[QueuedJob]:
        """This user's waiting jobs, in every server, oldest first."""
        return [job for job in self._by_id.values() if job.user_id == user_id]

    def ordered(self) -> list[QueuedJob]:
        """Every waiting job in turn order (what runs first comes first, batching aside)."""
        return list(self._turn_order())

    def coalesce_keys(self) -> dict[Hashable, str]:
        """Each coalesce key held now, and the id of the waiting job that holds it (a copy)."""
        return dict(self._by_key)

    # ------------------------------------------------------------------ internals

    def _turn_order(self) -> Iterator[QueuedJob]:
        """Take every turn, one job each, on a copy of the rotations."""
        servers = OrderedDict((guild, server.copy()) for guild, server in self._servers.items())
        for _ in range(len(self._by_id)):
            yield _take_turn(servers)


@dataclass
class _User:
    """One user's place in its server's rotation: the jobs waiting, oldest first, and the debt."""

    jobs: deque[QueuedJob] = field(default_factory=deque)
    deficit: int = 0

    def head_cost(self) -> int | None:
        return self.jobs[0].cost if self.jobs else None

    def settled(self) -> bool:
        return not self.jobs and self.deficit >= 0


@dataclass
class _Server:
    """One server's place in the rotation of servers: its users' rotation, and its own debt."""

    users: OrderedDict[int, _User] = field(default_factory=OrderedDict)
    deficit: int = 0

    def head_cost(self) -> int | None:
        return min(
            (c for u in self.users.values() if (c := u.head_cost()) is not None), default=None
        )

    def settled(self) -> bool:
        return not self.users and self.deficit >= 0

    def copy(self) -> _Server:
        users = OrderedDict(
            (user_id, _User(deque(user.jobs), user.deficit)) for user_id, user in self.users.items()
        )
        return _Server(users, self.deficit)


def _take_turn(servers: OrderedDict[int | None, _Server]) -> QueuedJob:
    """The server whose turn it is picks the user whose turn it is, who runs its oldest job."""
    guild = _visit_until_credit(servers)
    server = servers[guild]
    user_id = _visit_until_credit(server.users)
    job = server.users[user_id].jobs.popleft()
    # Each visit credited at most one quantum, no more than this job's cost: deficits stay ≤ 0.
    server.users[user_id].deficit -= job.cost
    server.deficit -= job.cost
    _tidy(servers, job)
    return job


def _ride(servers: OrderedDict[int | None, _Server], job: QueuedJob) -> None:
    """``job`` takes its user's and server's turn early: a quantum in, its cost out, back."""
    server = servers[job.guild_id]
    user = server.users[job.user_id]
    server_quantum = _quantum(servers)
    user_quantum = _quantum(server.users)
    user.jobs.remove(job)
    # A cheap rider (cheaper than the quantum) gets no credit to bank out of its ride.
    user.deficit = min(user.deficit + user_quantum - job.cost, 0)
    server.deficit = min(server.deficit + server_quantum - job.cost, 0)
    server.users.move_to_end(job.user_id)
    servers.move_to_end(job.guild_id)
    _tidy(servers, job)


def _quantum(rotation: OrderedDict[Any, Any]) -> int:
    # The cheapest waiting head: equal jobs then cost one visit each, the old round-robin.
    return min(cost for flow in rotation.values() if (cost := flow.head_cost()) is not None)


def _visit_until_credit(rotation: OrderedDict[Any, Any]) -> Any:
    """Visit flows in turn order, one quantum each, until one with a job has credit; its key.

    Visits are counted, not looped, as a big debt may need thousands of rounds: a flow owing
    D needs ⌊D / q⌋ + 1 visits, so after r - 1 full rounds the first flow (in turn order)
    needing the fewest, r, has its turn. It and every flow visited before it in that last round
    go to the back; a flow with nothing waiting whose debt is paid leaves.
    """
    quantum = _quantum(rotation)
    flows = list(rotation.items())
    needs = [
        -flow.deficit // quantum + 1 if flow.head_cost() is not None else None for _, flow in flows
    ]
    rounds = min(n for n in needs if n is not None)
    chosen = needs.index(rounds)
    for index, (key, flow) in enumerate(flows):
        flow.deficit += (rounds if index <= chosen else rounds - 1) * quantum
        if flow.head_cost() is None:
            flow.deficit = min(flow.deficit, 0)  # nothing to spend it on: no credit is banked
            if flow.settled():
                del rotation[key]
                continue
        if index <= chosen:
            rotation.move_to_end(key)
    return flows[chosen][0]


def _tidy(servers: OrderedDict[int | None, _Server], job: QueuedJob) -> None:
    """Drop the job's user and server from their rotations once they wait for and owe nothing."""
    server = servers[job.guild_id]
    if server.users[job.user_id].settled():
        del server.users[job.user_id]
    if server.settled():
        del servers[job.guild_id]
