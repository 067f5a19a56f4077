"""Workers as Ray actors, one per GPU, on any machine of a Ray cluster (LCM_RAY_ADDRESS).

Only this module imports Ray, and only the engine's transport imports this module when an address
is set. The scheduler stays in the bot's process: an actor gets one batch at a time, like a
worker process, and streams its steps back through a Ray generator. A cancel travels the other
way on a second actor thread, naming its batch. A lost actor raises WorkerLost here, exactly as a
lost process does; Ray restarts the actor, and the slot waits for it to load its models again.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace

import ray
import ray.exceptions

from generation.engine.worker_process import (
    FATAL_DEVICE_ERRORS,
    WorkerLost,
    WorkerSpec,
    build_pipelines,
    error_from,
)
from generation.errors import GenerationCancelled, GenerationError

log = logging.getLogger(__name__)

NAMESPACE = "lcm-bot"
# Ray restarts a lost actor up to this many times; the scheduler's quarantine keeps one poison
# job from spending them all.
MAX_RESTARTS = 20


def connect(address: str) -> None:
    """Join the cluster as a driver (once per process); the actors' logs stay on their nodes."""
    if address.rsplit(":", 1)[0] in ("127.0.0.1", "localhost", "[::1]"):
        # Ray turns a loopback address into this machine's network address before it connects
        # (for other machines' sake), unless it believes clusters are off, as on Windows and
        # macOS. A cluster bound to the loopback listens only there.
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
    if not ray.is_initialized():
        ray.init(
            address=address,
            namespace=NAMESPACE,
            log_to_driver=False,  # actor output would interleave with the bot's JSON log lines
            logging_level=logging.WARNING,
        )


def disconnect() -> None:
    if ray.is_initialized():
        ray.shutdown()


class ModelActor:
    """The actor's body: the models of one device and one batch at a time (threaded for stop)."""

    def __init__(self, spec: WorkerSpec, build: Callable) -> None:
        from generation.models.library_logs import quiet_model_libraries

        quiet_model_libraries()
        self._pipelines = build(spec)
        # The batch whose stop came last. A stop runs on the actor's second thread, so it may land
        # after its batch has ended and the next one begun: it names its batch, and only that
        # batch stops. Keeping the id (not a flag cleared by run) also keeps a stop that lands
        # before its batch begins. The driver sends at most one stop per batch, only for the
        # batch it is running, and one batch at a time, so remembering the last one is enough.
        self._stopped_batch: str | None = None

    def ready(self) -> tuple[int, str, tuple[int, int] | None]:
        """(pid, node id, memory): the slot waits on this, also after Ray restarts the actor."""
        node = ray.get_runtime_context().get_node_id()
        return os.getpid(), node, self._pipelines.memory_bytes()

    def stop(self, batch_id: str) -> None:
        """Stop batch ``batch_id`` at its next step; a stop for any other batch is no stop."""
        self._stopped_batch = batch_id  # one reference assignment: atomic under the GIL

    def run(self, batch_id: str, requests: list):
        """Yield ("step", k, n) per denoising step, then ("result", …) or ("error", kind, text).

        ``batch_id`` is unique per batch: ``stop(batch_id)`` stops this batch and no other.
        """
        events: queue.Queue = queue.Queue()

        def on_step(step: int, total: int) -> bool:
            events.put(("step", step, total))
            return self._stopped_batch != batch_id

        def work() -> None:
            events.put(_run_batch(self._pipelines, requests, on_step))

        threading.Thread(target=work, name="lcm-batch", daemon=True).start()
        while True:
            event = events.get()
            yield event
            if event[0] != "step":
                if event[1] == "fatal":
                    os._exit(3)  # a broken CUDA context does not heal: Ray starts a fresh actor
                return


def _run_batch(pipelines, requests: list, on_step) -> tuple:
    started = time.perf_counter()
    try:
        results = pipelines.run(requests, on_step)
        # The actor's own time, so that the driver can tell Ray's share of the wall time.
        return ("result", results, pipelines.memory_bytes(), time.perf_counter() - started)
    except GenerationCancelled as exc:
        return ("error", "cancelled", str(exc))
    except BaseException as exc:  # reported by kind; the scheduler decides
        text = f"{type(exc).__name__}: {exc}"
        if any(marker in text for marker in FATAL_DEVICE_ERRORS):
            return ("error", "fatal", text)
        kind = "generation" if isinstance(exc, GenerationError) else "error"
        return ("error", kind, text)


class RayRunner:
    """A BatchRunner whose models live in a Ray actor; the engine's slot thread drives it."""

    def __init__(self, actor, *, heartbeat_s: float, start_timeout_s: float) -> None:
        self._actor = actor
        self._heartbeat_s = heartbeat_s
        self._lost = False
        self.pid, self.node_id, self._memory = self._ready(start_timeout_s)
        # Wall time of run() beyond the actor's own pipeline call: Ray's share, for measurements.
        self.boundary_s = 0.0

    def run(self, requests: Sequence, on_step: Callable[[int, int], bool | None]) -> list:
        started = time.perf_counter()
        batch_id = uuid.uuid4().hex  # unique across runners too: a stop names its own batch
        stream = self._actor.run.remote(batch_id, list(requests))
        stop_with: BaseException | None = None
        stopping = False
        while True:
            message = self._next(stream)
            if message[0] == "step":
                if not stopping:
                    try:
                        stopping = on_step(message[1], message[2]) is False
                    except BaseException as exc:  # e.g. the job's time limit
                        stop_with, stopping = exc, True
                    if stopping:
                        self._actor.stop.remote(batch_id)  # honoured at its next step
                continue
            if message[0] == "result":
                self._memory = message[2]
                self.boundary_s += time.perf_counter() - started - message[3]
                return message[1]
            if stop_with is not None:
                raise stop_with
            error = error_from(message)
            if isinstance(error, WorkerLost):
                self._lost = True
            raise error

    def memory_bytes(self) -> tuple[int, int] | None:
        return self._memory

    def close(self) -> None:
        """End the actor for good, unless it was lost: then Ray is restarting it for this slot."""
        if not self._lost:
            ray.kill(self._actor, no_restart=True)

    def _next(self, stream):
        try:
            ready, _ = ray.wait([stream], timeout=self._heartbeat_s)
            if not ready:
                self._lost = True
                ray.kill(self._actor, no_restart=False)  # hung: Ray starts it afresh
                raise WorkerLost(
                    f"the Ray worker gave no sign of life for {self._heartbeat_s:.0f} s; "
                    "it was restarted"
                )
            return ray.get(next(stream))
        except StopIteration:
            self._lost = True
            raise WorkerLost("the Ray worker ended a batch without a result") from None
        except ray.exceptions.RayError as exc:
            self._lost = True
            raise WorkerLost(f"the Ray worker was lost ({type(exc).__name__}: {exc})") from None

    def _ready(self, timeout_s: float):
        """Wait for the actor's models; while Ray restarts a lost actor, ask again."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return ray.get(self._actor.ready.remote(), timeout=timeout_s)
            except ray.exceptions.ActorUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
            except ray.exceptions.RayActorError as exc:  # dead for good: restarts spent
                raise RuntimeError(f"the Ray worker died while loading its models: {exc}") from None


class RayWorkerFactory:
    """One slot's factory: creates its actor once, then waits for Ray's restart after a loss."""

    def __init__(
        self,
        spec: WorkerSpec,
        *,
        build: Callable = build_pipelines,
        heartbeat_s: float = 120.0,
        start_timeout_s: float = 3600.0,
    ) -> None:
        self.spec = spec
        self.build = build
        self.heartbeat_s = heartbeat_s
        self.start_timeout_s = start_timeout_s
        self.actor = None

    def __call__(self) -> RayRunner:
        if self.actor is None:
            gpu = self.spec.device.startswith("cuda")
            # Ray hides every other GPU from the actor, so its device is always cuda:0 there.
            spec = replace(self.spec, device="cuda") if gpu else self.spec
            resources = {"num_gpus": 1} if gpu else {"num_cpus": 1}
            self.actor = (
                ray.remote(ModelActor)
                .options(
                    **resources,
                    max_restarts=MAX_RESTARTS,
                    max_task_retries=0,  # a lost batch is retried by the scheduler, elsewhere
                    max_concurrency=2,  # run and stop at once
                )
                .remote(spec, self.build)
            )
        started = time.perf_counter()
        runner = RayRunner(
            self.actor, heartbeat_s=self.heartbeat_s, start_timeout_s=self.start_timeout_s
        )
        log.info(
            "Ray worker ready on node %s (pid %d) in %.1f s",
            runner.node_id[:8],
            runner.pid,
            time.perf_counter() - started,
        )
        return runner


def cluster_has_gpus() -> bool:
    return ray.cluster_resources().get("GPU", 0) >= 1


def cluster_workers(cpu_fallback: int) -> int:
    """One worker per GPU in the cluster; on a cluster without GPUs, ``cpu_fallback``."""
    return int(ray.cluster_resources().get("GPU", 0)) or cpu_fallback
