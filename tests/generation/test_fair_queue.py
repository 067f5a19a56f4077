"""FairQueue orderings, table-driven: exact run orders, caps, cancel, positions, bounded waits."""

from __future__ import annotations

import pytest

from generation.fair_queue import FairQueue, QueuedJob, QueueFull

ONE_IMAGE = 512 * 512


def job(name: str, *, guild: int | None = 1, key: str = "k", images: int = 1) -> QueuedJob:
    """``A1`` is user A's first job; the user id is the letter."""
    return QueuedJob(
        job_id=name, user_id=ord(name[0]), guild_id=guild, batch_key=key, images=images
    )


def drain(queue: FairQueue, budget: int) -> list[list[str]]:
    batches = []
    while len(queue):
        batches.append([j.job_id for j in queue.next_batch(budget)])
    return batches


def queue_of(*jobs: QueuedJob, **caps) -> FairQueue:
    queue = FairQueue(**caps)
    for item in jobs:
        queue.push(item)
    return queue


ORDERINGS = [
    pytest.param(
        ["A1", "A2", "B1", "C1", "C2", "A3"],
        ONE_IMAGE,
        [["A1"], ["B1"], ["C1"], ["A2"], ["C2"], ["A3"]],
        id="round-robin-by-user",
    ),
    pytest.param(
        [f"A{i}" for i in range(1, 21)] + ["B1"],
        ONE_IMAGE,
        [["A1"], ["B1"]] + [[f"A{i}"] for i in range(2, 21)],
        id="a-flooder-does-not-block-b",
    ),
    pytest.param(
        ["A1", "A2", "B1", "C1", "C2", "A3"],
        3 * ONE_IMAGE,
        [["A1", "B1", "C1"], ["A2", "C2", "A3"]],
        id="batches-fill-in-turn-order",
    ),
    pytest.param(
        ["A1", "A2", "B1", "C1"],
        100 * ONE_IMAGE,
        [["A1", "B1", "C1", "A2"]],
        id="one-batch-when-the-budget-allows",
    ),
]


@pytest.mark.parametrize(("arrivals", "budget", "expected"), ORDERINGS)
def test_exact_orderings(arrivals, budget, expected):
    assert drain(queue_of(*map(job, arrivals), per_user_cap=50), budget) == expected


def test_servers_take_turns_then_users_inside_each_server():
    queue = queue_of(
        job("A1", guild=1),
        job("A2", guild=1),
        job("B1", guild=1),
        job("C1", guild=1),
        job("X1", guild=2),
        job("X2", guild=2),
        job("D1", guild=None),
    )
    assert drain(queue, ONE_IMAGE) == [["A1"], ["X1"], ["D1"], ["B1"], ["X2"], ["C1"], ["A2"]]


def test_incompatible_jobs_only_join_batches_of_their_own_key():
    queue = queue_of(
        job("A1", key="512"), job("B1", key="768"), job("C1", key="512"), job("D1", key="768")
    )
    assert drain(queue, 10 * ONE_IMAGE) == [["A1", "C1"], ["B1", "D1"]]


def test_budget_counts_images_times_pixels_and_an_oversized_head_runs_alone():
    queue = queue_of(
        job("A1", images=4), job("B1", images=4), job("C1", images=2), job("D1", images=8)
    )
    assert drain(queue, 6 * ONE_IMAGE) == [["A1", "C1"], ["B1"], ["D1"]]


def test_an_incompatible_job_waits_no_longer_than_its_position_while_batches_form():
    users = "ABCD"
    queue = FairQueue(per_user_cap=50)
    for user in users:
        for i in range(3):
            queue.push(job(f"{user}{i}", key="common"))
    queue.push(job("E1", key="odd"))
    bound = queue.position("E1")
    assert bound == 5  # A0 B0 C0 D0 then E1: E is the fifth user in turn order
    counter, batches_until_e = 100, 0
    for _ in range(50):
        batch = [j.job_id for j in queue.next_batch(4 * ONE_IMAGE)]
        batches_until_e += 1
        if "E1" in batch:
            break
        assert len(batch) == 4, "compatible batches keep forming at full size"
        for user in users:  # existing users keep sending compatible work
            counter += 1
            queue.push(job(f"{user}{counter}", key="common"))
    assert batch == ["E1"]
    assert batches_until_e <= bound


def test_per_user_cap_and_global_cap_say_what_happened():
    queue = FairQueue(per_user_cap=2, global_cap=3)
    queue.push(job("A1"))
    queue.push(job("A2"))
    with pytest.raises(QueueFull, match="you already have 2 jobs waiting"):
        queue.push(job("A3"))
    queue.push(job("B1"))
    with pytest.raises(QueueFull, match="the queue is full"):
        queue.push(job("C1"))
    assert len(queue) == 3
    with pytest.raises(ValueError, match="already queued"):
        queue.push(job("B1"))


def test_jobs_accepted_before_a_restart_queue_past_both_caps():
    queue = FairQueue(per_user_cap=2, global_cap=3)
    for name in ("A1", "A2", "A3", "B1"):
        queue.push(job(name), enforce_caps=False)
    assert len(queue) == 4
    assert drain(queue, budget=1) == [["A1"], ["B1"], ["A2"], ["A3"]], "still taking turns"
    queue.push(job("A4"), enforce_caps=False)
    queue.push(job("A5"))  # the caps count recovered jobs too, once the queue is under them
    with pytest.raises(QueueFull):
        queue.push(job("A6"))


def test_cancel_and_position_by_job_id():
    queue = queue_of(*map(job, ["A1", "A2", "B1", "C1"]))
    assert [queue.position(j) for j in ("A1", "B1", "C1", "A2")] == [1, 2, 3, 4]
    assert queue.cancel("B1").job_id == "B1"
    assert queue.cancel("B1") is None
    assert queue.position("B1") is None
    assert [queue.position(j) for j in ("A1", "C1", "A2")] == [1, 2, 3]
    assert queue.cancel("A1") is not None and queue.cancel("A2") is not None
    assert [j.job_id for j in queue.ordered()] == ["C1"]
    assert drain(queue, ONE_IMAGE) == [["C1"]]
    assert queue.next_batch(ONE_IMAGE) == []


def test_jobs_of_a_user_across_servers():
    queue = queue_of(job("A1", guild=1), job("A2", guild=2), job("B1"))
    assert [j.job_id for j in queue.jobs_of(ord("A"))] == ["A1", "A2"]
    assert "A2" in queue and "Z9" not in queue
