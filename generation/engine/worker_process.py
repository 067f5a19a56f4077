"""GPU work in a child process: a hung, crashed or poisoned worker is killed, its memory freed.

The engine's worker thread drives a :class:`ProcessRunner` exactly as it drives a PipelineSet:
``run(requests, on_step)``. The models live in the child. Each denoising step is one round trip
on a pipe (the child reports the step, the parent answers go or stop), which is also the
worker's heartbeat. Only plain data crosses: requests and results (PIL images pickle as raw pixel
bytes) and errors as a kind and a message, never a live exception.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from generation.errors import GenerationCancelled, GenerationError

log = logging.getLogger(__name__)

# Messages whose text marks a broken device: the process must go, its CUDA context with it.
FATAL_DEVICE_ERRORS = ("device-side assert", "illegal memory access", "CUDA error", "NCCL error")


class WorkerLost(BaseException):
    """The child process died or reported a fatal device error; its batch did not finish.

    A BaseException, so the batch executor's per-job fault handling does not mistake it for the
    jobs' own failure: the engine queues the batch again on a fresh worker.
    """

    def __init__(self, message: str, *, fatal_device_error: bool = False) -> None:
        super().__init__(message)
        self.fatal_device_error = fatal_device_error


class WorkerError(RuntimeError):
    """A failure inside the child, re-raised in the parent by kind and message."""


@dataclass(frozen=True)
class WorkerSpec:
    """What the child needs to build its PipelineSet: plain values only (they are pickled)."""

    family: str
    overrides: dict[str, str] = field(default_factory=dict)
    device: str = "cpu"
    dtype: str = "float32"
    styles_file: str | None = None
    compile_mode: str | None = None
    warm_up: bool = False
    # CPU workers share the cores: two workers each with every core would fight over them.
    torch_threads: int | None = None


def build_pipelines(spec: WorkerSpec):
    """The child's PipelineSet, as the in-process engine would build it."""
    import torch

    if spec.torch_threads:
        torch.set_num_threads(spec.torch_threads)

    from generation.models.families import resolve_family
    from generation.models.styles import StyleLibrary
    from generation.modes.pipelines import PipelineSet

    styles = StyleLibrary.load(spec.styles_file) if spec.styles_file else StyleLibrary()
    pipelines = PipelineSet(
        resolve_family(spec.family, spec.overrides or None),
        device=spec.device,
        dtype=getattr(torch, spec.dtype),
        styles=styles,
        compile_mode=spec.compile_mode,
    )
    if spec.compile_mode and spec.warm_up:
        log.info("warmed up compiled batch sizes in %.0f s", pipelines.warm_up())
    return pipelines


class ProcessRunner:
    """A BatchRunner whose models live in a child process (spawned, not forked: CUDA-safe)."""

    def __init__(
        self,
        spec: WorkerSpec,
        *,
        build: Callable = build_pipelines,
        heartbeat_s: float = 120.0,
        start_timeout_s: float = 3600.0,
    ) -> None:
        """``heartbeat_s``: the longest the child may go without a step or an answer."""
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        # The child's log records come back on a pipe of their own and go out through this
        # process's handlers: one stream, one format (JSON or text), the same redaction.
        logs_in, logs_out = context.Pipe(duplex=False)
        level = logging.getLogger().getEffectiveLevel()
        self._process = context.Process(
            target=_child_main,
            args=(child_conn, build, spec, logs_out, level),
            name="lcm-gpu-worker",
            daemon=True,
        )
        self._heartbeat_s = heartbeat_s
        self._memory: tuple[int, int] | None = None
        self.boundary_s = 0.0  # time spent moving batches and results across, for measurements
        self._last_read_s = 0.0
        self._process.start()
        self._pid = self._process.pid
        self._ended = False
        child_conn.close()  # the parent's copy: EOF on our end must mean the child is gone
        logs_out.close()
        threading.Thread(
            target=_relay_logs, args=(logs_in,), name="lcm-gpu-worker-logs", daemon=True
        ).start()
        message = self._receive(start_timeout_s, "loading its models")
        if message[0] != "ready":
            self.kill()
            raise error_from(message)
        self._memory = message[1]

    @property
    def pid(self) -> int | None:
        return self._pid

    def run(self, requests: Sequence, on_step: Callable[[int, int], bool | None]) -> list:
        """Run a batch in the child; ``on_step`` is called here, in the engine's worker thread."""
        started = time.perf_counter()
        self._send(("run", list(requests)))
        self.boundary_s += time.perf_counter() - started
        stop_with: BaseException | None = None
        while True:
            message = self._receive(self._heartbeat_s, "running a batch")
            kind = message[0]
            if kind == "step":
                answer = "go"
                if stop_with is None:
                    try:
                        if on_step(message[1], message[2]) is False:
                            answer = "stop"
                    except BaseException as exc:  # e.g. the job's time limit: stop the child
                        stop_with, answer = exc, "stop"
                else:
                    answer = "stop"
                self._send(answer)
                continue
            if kind == "result":
                results, self._memory = message[1], message[2]
                # Reading and unpickling here, plus the child's pickling and writing.
                sent = self._receive(self._heartbeat_s, "sending its results")
                self.boundary_s += self._last_read_s + sent[1]
                return results
            if stop_with is not None:
                raise stop_with
            raise error_from(message)

    def memory_bytes(self) -> tuple[int, int] | None:
        """The child's GPU memory as of its last batch (it cannot be asked mid-batch)."""
        return self._memory

    def close(self, timeout_s: float = 5.0) -> None:
        """Ask the child to exit; kill it if it does not."""
        if not self._ended and self._process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(("exit",))
            self._process.join(timeout_s)
        self.kill()

    def kill(self) -> None:
        """End the child now (a hung step cannot be interrupted any other way)."""
        if self._ended:
            return
        if self._process.is_alive():
            self._process.kill()
        self._process.join(5.0)
        self._conn.close()
        # Its sentinel pipe stays open until then: 20 worker kills would leak 20 descriptors.
        with contextlib.suppress(ValueError):  # still running after the join: nothing to free
            self._process.close()
            self._ended = True

    def _send(self, message) -> None:
        try:
            self._conn.send(message)
        except (OSError, ValueError) as exc:
            raise WorkerLost(f"the GPU worker process is gone ({exc})") from None

    def _receive(self, timeout_s: float, doing: str):
        try:
            if not self._conn.poll(timeout_s):
                self.kill()
                raise WorkerLost(
                    f"the GPU worker process gave no sign of life for {timeout_s:.0f} s while "
                    f"{doing}; it was stopped"
                )
            started = time.perf_counter()
            message = self._conn.recv()
            self._last_read_s = time.perf_counter() - started
            return message
        except (EOFError, OSError) as exc:
            code = None if self._ended else self._process.exitcode
            raise WorkerLost(
                f"the GPU worker process died while {doing} (exit code {code})"
            ) from exc


def error_from(message) -> BaseException:
    """The exception a worker's ("error", kind, text) message stands for."""
    kind, text = message[1], message[2]
    if kind == "cancelled":
        return GenerationCancelled(text)
    if kind == "fatal":
        return WorkerLost(text, fatal_device_error=True)
    if kind == "generation":
        return GenerationError(text)
    return WorkerError(text)


class _PipeQueue:
    """The one method QueueHandler needs of a queue, over a pipe to the parent."""

    def __init__(self, conn) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def put_nowait(self, record: logging.LogRecord) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):  # the parent is gone
            self._conn.send(record)


def _relay_logs(conn) -> None:
    """In the parent: hand each of the child's records to the logger it was made for."""
    with conn:
        while True:
            try:
                record = conn.recv()
            except (EOFError, OSError):
                return  # the child ended (or was killed mid-record: that record is lost)
            logger = logging.getLogger(record.name)
            if logger.isEnabledFor(record.levelno):
                logger.handle(record)


def _child_main(conn, build: Callable, spec: WorkerSpec, logs, level: int) -> None:
    # Ctrl-C reaches the whole process group: the parent decides when the worker stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    root = logging.getLogger()
    # QueueHandler renders the message and drops args and exc_info, so the record pickles.
    root.handlers[:] = [logging.handlers.QueueHandler(_PipeQueue(logs))]
    root.setLevel(level)
    from generation.models.library_logs import quiet_model_libraries

    quiet_model_libraries()  # the child loads the models: their chatter starts here
    try:
        pipelines = build(spec)
    except BaseException as exc:  # every failure is reported, then the child ends
        conn.send(("error", "load", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", pipelines.memory_bytes()))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return  # the parent is gone
        if message[0] != "run":
            return
        _run_batch(conn, pipelines, message[1])


def _run_batch(conn, pipelines, requests) -> None:
    def on_step(step: int, total: int) -> bool:
        conn.send(("step", step, total))
        return conn.recv() == "go"

    try:
        results = pipelines.run(requests, on_step)
    except GenerationCancelled as exc:
        conn.send(("error", "cancelled", str(exc)))
        return
    except BaseException as exc:  # reported by kind; the parent decides
        text = f"{type(exc).__name__}: {exc}"
        if any(marker in text for marker in FATAL_DEVICE_ERRORS):
            conn.send(("error", "fatal", text))
            raise SystemExit(3) from None  # a broken CUDA context does not heal: end the process
        kind = "generation" if isinstance(exc, GenerationError) else "error"
        del exc  # its traceback pins the batch's tensors
        from generation.engine.batch_execution import release_memory

        release_memory()
        conn.send(("error", kind, text))
        return
    started = time.perf_counter()
    conn.send(("result", results, pipelines.memory_bytes()))
    conn.send(("sent", time.perf_counter() - started))  # the parent counts the crossing
