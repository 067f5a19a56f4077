"""The Ray actor's body in this process, without a cluster: a stop names its batch.

Ray runs an actor's run() and stop() on two threads (max_concurrency=2); here the test drives
ModelActor's own methods from two threads the same way, with the real tiny pipelines, whose
denoising steps wait at a gate the test opens. So the order in which a stop and the next batch
meet is chosen here, not left to the machine's load.
"""

from __future__ import annotations

import threading

import pytest

from generation.engine.ray_workers import ModelActor
from generation.engine.worker_process import WorkerSpec
from generation.modes import Mode
from tests.generation.helpers import make_request


class GatedPipelines:
    """The real tiny PipelineSet; each denoising step waits for the test to let it report."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self._gate = threading.Semaphore(0)

    def allow(self, steps: int) -> None:
        for _ in range(steps):
            self._gate.release()

    def run(self, requests, on_step):
        def step(done: int, total: int):
            # A safety net for a broken test, not a timing: each step waits for allow().
            assert self._gate.acquire(timeout=120), "the test never let this step go on"
            return on_step(done, total)

        return self.inner.run(requests, step)

    def memory_bytes(self):
        return self.inner.memory_bytes()


@pytest.fixture
def actor(tiny_pipelines):
    pipelines = GatedPipelines(tiny_pipelines)
    return ModelActor(WorkerSpec("tiny"), lambda _spec: pipelines), pipelines


@pytest.fixture
def request_(tiny_pipelines):
    return make_request(tiny_pipelines, Mode.TXT2IMG, steps=4)


def stop_on_the_other_thread(actor: ModelActor, batch_id: str) -> None:
    """As Ray delivers stop.remote(): on the actor's second thread, while run() is under way."""
    thread = threading.Thread(target=actor.stop, args=(batch_id,))
    thread.start()
    thread.join()


def test_a_stop_that_lands_late_does_not_stop_the_next_batch(actor, request_):
    model, pipelines = actor
    pipelines.allow(4)
    assert [event[0] for event in model.run("one", [request_])][-1] == "result"
    two = model.run("two", [request_])
    pipelines.allow(1)
    assert next(two)[:2] == ("step", 1)  # batch two is under way; its step 2 waits at the gate
    # The stop the driver sent at batch one's last step lands only now, after two began.
    stop_on_the_other_thread(model, "one")
    pipelines.allow(3)
    rest = list(two)
    assert [event[:2] for event in rest[:-1]] == [("step", 2), ("step", 3), ("step", 4)]
    assert rest[-1][0] == "result", f"batch two was stopped by batch one's stop: {rest[-1]}"


def test_a_stop_stops_the_batch_it_names_at_its_next_step(actor, request_):
    model, pipelines = actor
    run = model.run("one", [request_])
    pipelines.allow(1)
    assert next(run)[:2] == ("step", 1)
    stop_on_the_other_thread(model, "one")
    pipelines.allow(1)
    assert next(run)[:2] == ("step", 2)  # reported, and the pipeline stops there
    assert next(run)[:2] == ("error", "cancelled")


def test_a_stop_that_lands_before_its_batch_begins_is_kept_for_it(actor, request_):
    model, pipelines = actor
    stop_on_the_other_thread(model, "one")
    run = model.run("one", [request_])
    pipelines.allow(4)  # every step may go on: only the stop ends the batch early
    assert next(run)[:2] == ("step", 1)
    assert next(run)[:2] == ("error", "cancelled")
