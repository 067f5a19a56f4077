"""Builders for worker-process tests: importable top-level functions, since the child is spawned."""

from __future__ import annotations

import logging
import os
import time

from generation.engine.worker_process import WorkerSpec, build_pipelines


class InjectingPipelines:
    """The real tiny PipelineSet in the child, with faults chosen by words in the prompt.

    LOG: the child logs a warning naming its pid. FAIL: the call fails (the jobs' own fault).
    SLOW: each step sleeps. HANG: the first step never returns. FATAL: the call fails as a
    broken CUDA context does. DIE: the child kills itself mid-batch (SIGKILL from inside).
    """

    def __init__(self, inner) -> None:
        self.inner = inner

    def run(self, requests, on_step):
        prompts = " ".join(request.prompt for request in requests)
        if "LOG" in prompts:
            logging.getLogger("tests.worker_child").warning("child %d says hello", os.getpid())
        if "FAIL" in prompts and "FATAL" not in prompts:
            raise RuntimeError("injected failure")  # the jobs' own fault: the worker stays
        if "FATAL" in prompts:
            raise RuntimeError("CUDA error: device-side assert triggered")

        def step(done: int, total: int):
            if "SLOW" in prompts:
                time.sleep(0.5)
            if "HANG" in prompts:
                time.sleep(3600)
            if "DIE" in prompts and done == 1:
                os.kill(os.getpid(), 9)
            return on_step(done, total)

        return self.inner.run(requests, step)

    def memory_bytes(self):
        return self.inner.memory_bytes()


def build_injecting(spec: WorkerSpec) -> InjectingPipelines:
    return InjectingPipelines(build_pipelines(spec))
