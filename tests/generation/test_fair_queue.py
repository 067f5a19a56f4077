"""FairQueue orderings, table-driven: exact run orders by cost, caps, cancel, bounded waits."""

from __future__ import annotations

import dataclasses
import random

import pytest
from PIL import Image

from generation.engine.fair_queue import FairQueue, QueuedJob, QueueFull
from generation.models.families import HUB_FAMILIES
from generation.modes import Mode
from generation.modes.requests import GenerationRequest, gpu_cost, validate_request

ONE_IMAGE = 512 * 512
LORA_FAMILY = HUB_FAMILIES["sd15"]  # base model + LCM-LoRA: guidance above 1 runs CFG
FULL_LCM = HUB_FAMILIES["dreamshaper-lcm"]  # guidance is an embedding: never CFG


def job(
    name: str, *, guild: int | None = 1, key: str = "k", images: int = 1, cost: int = 1
) -> QueuedJob:
    """``A1`` is user A's first job; the user id is the letter."""
    return QueuedJob(
        job_id=name, user_id=ord(name[0]), guild_id=guild, batch_key=key, images=images, cost=cost
    )


def request(family=LORA_FAMILY, **fields) -> GenerationRequest:
    """A validated 512×512 request at 4 steps and guidance 1 unless ``fields`` say otherwise."""
    options = dict(mode=Mode.TXT2IMG, prompt="a boat", steps=4, guidance=1.0, seed=1)
    options.update(fields)
    return validate_request(GenerationRequest(**options), family)


def real_job(name: str, family=LORA_FAMILY, *, guild: int | None = 1, **fields) -> QueuedJob:
    """A job charged what its real request costs; each has its own batch key (runs alone)."""
    asked = request(family, **fields)
    frames = asked.frames if asked.mode.spec.video else 1
    return QueuedJob(
        job_id=name,
        user_id=ord(name[0]),
        guild_id=guild,
        batch_key=name,
        images=asked.count,
        pixels=asked.width * asked.height * frames,
        cost=gpu_cost(asked, family),
    )


def order(queue: FairQueue, budget: int = ONE_IMAGE) -> list[str]:
    return [name for batch in drain(queue, budget) for name in batch]


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


@pytest.mark.parametrize("cost", [1, 4 * ONE_IMAGE])
@pytest.mark.parametrize(("arrivals", "budget", "expected"), ORDERINGS)
def test_exact_orderings(arrivals, budget, expected, cost):
    """Equal costs, whatever they are, give plain round-robin."""
    jobs = [job(name, cost=cost) for name in arrivals]
    assert drain(queue_of(*jobs, per_user_cap=50), budget) == expected


def test_the_cost_of_a_request_is_images_pixels_frames_steps_and_guidance():
    one = gpu_cost(request(), LORA_FAMILY)
    assert one == ONE_IMAGE * 4
    photo = Image.new("RGB", (512, 512))
    costs = {
        "two images": gpu_cost(request(count=2), LORA_FAMILY),
        "768×512": gpu_cost(request(width=768, height=512), LORA_FAMILY),
        "24 frames": gpu_cost(request(mode=Mode.ANIMATE, frames=24), LORA_FAMILY),
        "img2img at strength 0.5 runs 2 of 4 steps": gpu_cost(
            request(mode=Mode.IMG2IMG, image=photo, strength=0.5), LORA_FAMILY
        ),
        "CFG at guidance 1.5 with the LCM-LoRA": gpu_cost(request(guidance=1.5), LORA_FAMILY),
        "full LCM at guidance 8: no CFG": gpu_cost(request(FULL_LCM, guidance=8.0), FULL_LCM),
    }
    assert {name: cost / one for name, cost in costs.items()} == {
        "two images": 2,
        "768×512": 1.5,
        "24 frames": 24,
        "img2img at strength 0.5 runs 2 of 4 steps": 0.5,
        "CFG at guidance 1.5 with the LCM-LoRA": 2,
        "full LCM at guidance 8: no CFG": 1,
    }


def test_a_24_frame_animation_costs_its_user_24_images_worth_of_turns():
    queue = queue_of(
        real_job("A1", mode=Mode.ANIMATE, frames=24),
        real_job("A2"),
        *(real_job(f"B{i}") for i in range(1, 31)),
        per_user_cap=50,
    )
    assert order(queue) == [
        "A1",
        *(f"B{i}" for i in range(1, 25)),
        "A2",
        *(f"B{i}" for i in range(25, 31)),
    ]


def test_classifier_free_guidance_doubles_the_charge():
    guided = queue_of(
        *(real_job(f"A{i}", guidance=1.5) for i in range(1, 4)),
        *(real_job(f"B{i}") for i in range(1, 7)),
        per_user_cap=50,
    )
    assert order(guided) == ["A1", "B1", "B2", "A2", "B3", "B4", "A3", "B5", "B6"]
    # A full LCM checkpoint never runs CFG: at guidance 8 it costs what guidance 1 does.
    full_lcm = queue_of(
        *(real_job(f"A{i}", FULL_LCM, guidance=8.0) for i in range(1, 4)),
        *(real_job(f"B{i}", FULL_LCM, guidance=1.0) for i in range(1, 4)),
    )
    assert order(full_lcm) == ["A1", "B1", "A2", "B2", "A3", "B3"]


def test_servers_take_turns_by_cost():
    queue = queue_of(
        *(real_job(f"A{i}", guild=1, count=4) for i in (1, 2)),
        *(real_job(f"X{i}", guild=2) for i in range(1, 7)),
        per_user_cap=50,
    )
    assert order(queue, 4 * ONE_IMAGE) == ["A1", "X1", "X2", "X3", "X4", "A2", "X5", "X6"]


def test_users_inside_a_server_take_turns_by_cost_while_servers_take_theirs():
    queue = queue_of(
        *(real_job(f"A{i}", guild=1, count=2) for i in (1, 2, 3)),
        *(real_job(f"B{i}", guild=1) for i in (1, 2, 3)),
        *(real_job(f"X{i}", guild=2) for i in range(1, 7)),
        per_user_cap=50,
    )
    assert order(queue, 2 * ONE_IMAGE) == [
        *("A1", "X1", "X2", "B1", "X3", "B2"),
        *("X4", "A2", "X5", "X6", "B3", "A3"),
    ]


def test_riding_in_a_batch_is_a_turn_charged_at_its_cost():
    queue = queue_of(
        job("C1", key="k"),
        job("A1", key="k", images=4, cost=4),  # rides with C1, and pays for it
        job("A2", key="a2"),
        *(job(f"B{i}", key=f"b{i}") for i in range(1, 6)),
    )
    assert drain(queue, 5 * ONE_IMAGE) == [
        ["C1", "A1"],
        ["B1"],
        ["B2"],
        ["B3"],
        ["B4"],
        ["A2"],
        ["B5"],
    ]


def test_a_debt_outlives_an_empty_queue_slot_until_turns_pay_it_off():
    animation = dict(mode=Mode.ANIMATE, frames=24)
    # A waits for the animation before sending the next job: A still owes it.
    queue = queue_of(
        real_job("A1", **animation), *(real_job(f"B{i}") for i in range(1, 31)), per_user_cap=50
    )
    assert [j.job_id for j in queue.next_batch(ONE_IMAGE)] == ["A1"]
    queue.push(real_job("A2"))
    assert queue.position("A2") == 25
    assert order(queue)[23:26] == ["B24", "A2", "B25"]
    # Turns taken while A is away pay the debt off: back after 24 of B's, A is a newcomer.
    queue = queue_of(
        real_job("A1", **animation), *(real_job(f"B{i}") for i in range(1, 31)), per_user_cap=50
    )
    for _ in range(25):
        queue.next_batch(ONE_IMAGE)
    queue.push(real_job("A2"))
    assert order(queue)[:3] == ["B25", "A2", "B26"]


@pytest.mark.parametrize("seed", range(6))
def test_a_newcomer_starts_within_one_turn_of_every_flow_ahead_whatever_the_costs(seed):
    """The wait bound with no debt: (U + 1) × (S + 1) batches, costs and arrivals aside."""
    rng = random.Random(seed)
    queue, counter = FairQueue(per_user_cap=50, global_cap=1000), 0

    def send(user: str, guild: int) -> None:
        nonlocal counter
        counter += 1
        cost, images = rng.randint(1, 24), rng.randint(1, 3)
        queue.push(job(f"{user}{counter}", guild=guild, key="common", images=images, cost=cost))

    senders = [(user, guild) for guild in (1, 2, 3) for user in "ABC"]
    for user, guild in senders * 3:
        send(user, guild)
    for _ in range(rng.randint(0, 8)):  # let debts build up before the newcomer comes
        queue.next_batch(4 * ONE_IMAGE)
        for user, guild in senders:
            send(user, guild)
    queue.push(job("E1", guild=4, key="odd"))
    bound = 3 + 1  # three servers ahead of the newcomer's, each waiting
    taken = 0
    while "E1" in queue:
        batch = [j.job_id for j in queue.next_batch(4 * ONE_IMAGE)]
        taken += 1
        for user, guild in senders:  # everyone ahead keeps sending, at random costs
            send(user, guild)
    assert batch == ["E1"] and taken <= bound, (taken, bound)


def test_a_job_costs_at_least_one():
    with pytest.raises(ValueError, match="at least 1"):
        job("A1", cost=0)


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


def ids(jobs: list[QueuedJob]) -> list[str]:
    return [queued.job_id for queued in jobs]


def test_a_lost_batch_goes_back_in_order_without_its_turns_charged_twice():
    queue = FairQueue()
    for queued in (
        job("A1", cost=4),
        job("A2", cost=4),
        *(job(f"B{n}", key="b") for n in range(1, 5)),
    ):
        queue.push(queued)
    assert ids(queue.ordered()) == ["A1", "B1", "B2", "B3", "B4", "A2"]
    lost = queue.next_batch(budget=10 * ONE_IMAGE)
    assert ids(lost) == ["A1", "A2"], "one batch: A1, and A2 riding along"
    queue.requeue(lost)  # the worker died: the GPU time was lost, not spent
    # Refunded, A owes nothing: A1 runs after one turn of B's, and then pays for it as before.
    # Charged twice, A would owe for both jobs again and wait behind all four of B's jobs.
    assert ids(queue.ordered()) == ["B1", "A1", "B2", "B3", "B4", "A2"]
    assert [queue.next_batch(budget=ONE_IMAGE)[0].job_id for _ in range(6)] == [
        "B1",
        "A1",
        "B2",
        "B3",
        "B4",
        "A2",
    ], "and the turns then taken one by one follow the same costs"


def test_requeue_refuses_a_job_that_is_already_waiting():
    queue = FairQueue()
    queue.push(job("A1"))
    with pytest.raises(ValueError, match="already queued"):
        queue.requeue([job("A1")])


def keyed(name: str, key: str | None = "session", **fields) -> QueuedJob:
    return dataclasses.replace(job(name, **fields), coalesce_key=key)


def test_a_waiting_job_is_replaced_by_the_newest_of_its_key_in_its_place():
    superseded: list[str] = []
    queue = FairQueue(per_user_cap=2, on_superseded=lambda old: superseded.append(old.job_id))
    for name in ("A1", "B1"):
        queue.push(job(name))
    queue.push(keyed("A2"))
    # Five clicks while A2 waits: each replaces the one before, past A's cap of 2 waiting.
    for name in ("A3", "A4", "A5", "A6"):
        queue.push(keyed(name))
        assert queue.position(name) == 3, "in A2's place, behind A1 and B1"
    assert superseded == ["A2", "A3", "A4", "A5"]
    assert len(queue) == 3 and "A2" not in queue
    assert order(queue) == ["A1", "B1", "A6"]


def test_a_running_job_is_never_replaced_and_other_keys_do_not_coalesce():
    superseded: list[str] = []
    queue = FairQueue(on_superseded=lambda old: superseded.append(old.job_id))
    queue.push(keyed("A1"))
    assert [j.job_id for j in queue.next_batch(ONE_IMAGE)] == ["A1"]  # running now
    queue.push(keyed("A2"))
    queue.push(keyed("A3", key="other"))
    queue.push(keyed("A4", key=None))
    assert superseded == [] and order(queue) == ["A2", "A3", "A4"]


def test_a_cancelled_waiting_job_frees_its_key_and_the_next_of_the_key_queues_as_new():
    superseded: list[str] = []
    queue = FairQueue(on_superseded=lambda old: superseded.append(old.job_id))
    queue.push(job("B1"))
    queue.push(keyed("A1"))
    assert queue.coalesce_keys() == {"session": "A1"}, "A1 waits, holding its key"
    assert queue.cancel("A1") is not None
    assert queue.coalesce_keys() == {}, "no stale key is left behind"
    queue.push(keyed("A2"))
    assert queue.position("A2") == 2
    assert superseded == [], "A2 replaced nothing: it queued as a new job"
    assert queue.coalesce_keys() == {"session": "A2"}
    assert order(queue) == ["B1", "A2"]


def test_a_coalesce_key_belongs_to_one_user():
    queue = FairQueue()
    queue.push(keyed("A1"))
    with pytest.raises(ValueError, match="another's"):
        queue.push(keyed("B1"))
    assert order(queue) == ["A1"]


def test_compatible_size_counts_the_waiting_work_that_could_join_the_head():
    queue = FairQueue()
    assert queue.head() is None
    for name, key in (("A1", "64²"), ("B1", "96²"), ("C1", "64²"), ("A2", "64²")):
        queue.push(job(name, key=key, images=2))
    size = 2 * 512 * 512  # two images of the default pixels
    head = queue.head()
    assert head.job_id == "A1" and head == queue.ordered()[0]
    assert queue.compatible_size(head) == 3 * size, "A1's turn: A1, C1 and A2 share its key"
    queue.next_batch(budget=size)  # A1 alone
    head = queue.head()
    assert head.job_id == "B1" and queue.compatible_size(head) == size, "nobody else is 96²"
