"""Test helpers for the engine: a fault-injecting wrapper around a real PipelineSet, and specs."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import torch

from generation.engine.events import JobSpec
from generation.modes import Mode
from generation.modes.requests import GenerationRequest


class FaultyRunner:
    """Runs the real tiny pipelines, injecting faults chosen by words in the prompt.

    FAIL: the whole call raises (a per-job exception). OOM: out of GPU memory while the batch holds
    more than ``oom_above`` requests. HANG: the first step blocks until ``release`` is set.
    SLOW: each step sleeps ``slow_step_s``. GATE: the call waits for ``gate`` before running.
    """

    def __init__(self, inner, *, oom_above: int = 2, slow_step_s: float = 0.2) -> None:
        self.inner = inner
        self.oom_above = oom_above
        self.slow_step_s = slow_step_s
        self.release = threading.Event()
        self.gate = threading.Event()
        self.calls: list[list[str]] = []  # prompts of every call, in order
        self.steps: list[tuple[str, int, float]] = []  # (first prompt, step, monotonic time)
        self.own_calls = 0  # calls this runner made (its twins count their own)

    def twin(self, inner) -> FaultyRunner:
        """A second worker's runner over its own pipelines, sharing records, gate and release.

        Two workers may not share one PipelineSet: a pipeline's scheduler holds per-call state.
        """
        other = FaultyRunner(inner, oom_above=self.oom_above, slow_step_s=self.slow_step_s)
        other.calls, other.steps = self.calls, self.steps
        other.release, other.gate = self.release, self.gate
        return other

    def run(self, requests: Sequence[GenerationRequest], on_step):
        prompts = [request.prompt for request in requests]
        self.calls.append(prompts)
        self.own_calls += 1
        if any("GATE" in p for p in prompts):
            self.gate.wait(30)
        if any("FAIL" in p for p in prompts):
            raise RuntimeError("injected failure")
        if len(requests) > self.oom_above and any("OOM" in p for p in prompts):
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

        def step_hook(step: int, total: int):
            self.steps.append((prompts[0], step, time.monotonic()))
            if any("HANG" in p for p in prompts):
                self.release.wait(60)
            if any("SLOW" in p for p in prompts):
                time.sleep(self.slow_step_s)
            return on_step(step, total)

        return self.inner.run(requests, step_hook)

    def memory_bytes(self):
        return self.inner.memory_bytes()


def spec(
    job_id: str, prompt: str = "a small boat", *, user: int | None = None, guild: int = 1, **fields
) -> JobSpec:
    """A tiny-family txt2img job; ``user`` defaults to the letter the id starts with."""
    options = dict(mode=Mode.TXT2IMG, prompt=prompt, width=64, height=64, steps=2, seed=1)
    options.update(fields)
    return JobSpec(
        job_id=job_id,
        user_id=ord(job_id[0]) if user is None else user,
        guild_id=guild,
        request=GenerationRequest(**options),
    )
