"""`lcm-bot bench`: one request mix served the guide's way (a pipe call each) and by the engine."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from generation.engine import Engine, EngineConfig
from generation.engine.events import JobSpec
from generation.engine.metrics import percentile
from generation.models.families import ModelFamily, resolve_family
from generation.modes import Mode, default_guidance
from generation.modes.pipelines import PipelineSet
from generation.modes.requests import GenerationRequest

# One H100 does about 800 TFLOP/s on large bf16 matrix products (MODELS_OFFLINE.md).
H100_TFLOPS = 800.0
_PROMPTS = (
    "a lighthouse at dusk, oil painting",
    "a red fox in fresh snow, photograph",
    "a city of glass towers, concept art",
    "a bowl of ramen, studio lighting",
    "an astronaut riding a horse, watercolor",
    "a cosy cabin in a pine forest, illustration",
)


@dataclass(frozen=True)
class BenchOptions:
    model: str = "tiny"
    device: str = "auto"
    dtype: str = "auto"
    users: int = 16
    jobs_per_user: int = 4
    size: int | None = None  # default: the family's default size
    steps: int = 4
    batch_images: int = 16
    random_weights: bool = False
    seed: int = 0
    quality: str = "full"
    compile_mode: str | None = None
    worker: str = "thread"  # "process": the engine's models live in a worker process


@dataclass
class BenchReport:
    device: str
    model: str
    size: str
    steps: int
    users: int
    jobs: int
    baseline_images_per_s: float
    engine_images_per_s: float
    ratio: float
    p50_ms: float
    p95_ms: float
    baseline_p50_ms: float
    baseline_p95_ms: float
    batch_1_latency_ms: float
    ceiling_pct: float | None
    batch_sizes: dict[int, int]
    redecodes: int
    machine: dict = field(default_factory=dict)
    compile_warm_up_s: float = 0.0
    worker: str = "thread"
    # With a worker process: time spent moving batches and results across, per image.
    boundary_ms_per_image: float | None = None

    def lines(self) -> list[str]:
        out = [
            f"device: {self.device}  model: {self.model}  size: {self.size}  steps: {self.steps}",
            f"mix: {self.jobs} jobs from {self.users} users, all arriving at once",
            f"batch-1 latency: {self.batch_1_latency_ms:.0f} ms",
            f"baseline (one pipe() call per request, arrival order): "
            f"{self.baseline_images_per_s:.2f} images/s, p50 {self.baseline_p50_ms:.0f} ms, "
            f"p95 {self.baseline_p95_ms:.0f} ms",
            f"engine (fair batching): {self.engine_images_per_s:.2f} images/s, "
            f"p50 {self.p50_ms:.0f} ms, p95 {self.p95_ms:.0f} ms, batches {self.batch_sizes}",
        ]
        if self.boundary_ms_per_image is not None:
            out.append(
                f"worker process: {self.boundary_ms_per_image:.2f} ms per image crossing "
                "the process boundary"
            )
        if self.ceiling_pct is not None:
            out.append(f"engine at {self.ceiling_pct:.1f} % of the H100 physical ceiling")
        out.append(f"ratio: the engine serves {self.ratio:.2f}× the baseline's images/s")
        return out


def ceiling_images_per_s(model: str, size: int, steps: int) -> float | None:
    """The compute ceiling from MODELS_OFFLINE.md, for the sizes it gives figures for."""
    if model == "sd15" and size == 512:
        # UNet 803 GFLOP per step (no CFG) + full VAE decoder 2,515 + CLIP 13.
        return H100_TFLOPS * 1000 / (803 * steps + 2515 + 13)
    if model == "sdxl" and size == 1024 and steps == 4:
        return H100_TFLOPS / 37.6
    return None


def _family(options: BenchOptions) -> ModelFamily:
    if options.random_weights:
        from generation.models.testing.random_models import random_weight_family

        return random_weight_family(options.model)
    return resolve_family(options.model)


def _mix(options: BenchOptions, size: int) -> list[JobSpec]:
    jobs = []
    for user in range(options.users):
        for k in range(options.jobs_per_user):
            n = len(jobs)
            request = GenerationRequest(
                mode=Mode.TXT2IMG,
                prompt=f"{_PROMPTS[n % len(_PROMPTS)]}, variation {k}",
                width=size,
                height=size,
                steps=options.steps,
                seed=1000 + n,
                quality=options.quality,
            )
            jobs.append(JobSpec(f"job-{n}", user_id=user, guild_id=1, request=request))
    random.Random(options.seed).shuffle(jobs)  # a burst arrives interleaved, not user by user
    return jobs


def _baseline(pipes: PipelineSet, jobs: list[JobSpec], guidance: float) -> list[float]:
    """The guide's way: one ``pipe(...)`` per request, in arrival order. Returns latencies (s).

    For the fast tier the pipeline gets TAESD as its VAE, as diffusers documents, so both paths
    decode the same way.
    """
    pipe = pipes.pipeline(Mode.TXT2IMG)
    full_vae = pipe.vae
    if jobs and jobs[0].request.quality == "fast":
        pipe.vae = pipes.fast_decoder()
    try:
        return _timed_calls(pipe, pipes, jobs, guidance)
    finally:
        pipe.vae = full_vae


def _timed_calls(pipe, pipes: PipelineSet, jobs: list[JobSpec], guidance: float) -> list[float]:
    started, latencies = time.perf_counter(), []
    for job in jobs:
        request = job.request
        pipe(
            prompt=request.prompt,
            num_inference_steps=request.steps,
            guidance_scale=guidance,
            height=request.height,
            width=request.width,
            generator=torch.Generator(pipes.device).manual_seed(request.seed),
        ).images[0]
        latencies.append(time.perf_counter() - started)
    return latencies


async def _through_engine(engine: Engine, jobs: list[JobSpec]) -> list[float]:
    started = time.perf_counter()
    handles = [engine.submit(job) for job in jobs]

    async def latency(handle) -> float:
        await handle.result()
        return time.perf_counter() - started

    return list(await asyncio.gather(*(latency(h) for h in handles)))


async def run_bench(options: BenchOptions) -> BenchReport:
    from generation.models.devices import resolve_device, resolve_dtype

    family = _family(options)
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    size = options.size or family.default_size
    pipes = PipelineSet(family, device=device, dtype=dtype, compile_mode=options.compile_mode)
    warm_up_s = pipes.warm_up(sizes=(size,)) if options.compile_mode else 0.0
    jobs = _mix(options, size)
    config = EngineConfig(
        batch_budget=options.batch_images * size * size,
        per_user_cap=options.jobs_per_user,
        global_cap=max(200, len(jobs)),
        job_timeout_s=3600,
    )
    factory = _worker_factory(options, device, dtype) if options.worker == "process" else None
    async with Engine(factory or (lambda: pipes), family=family, config=config) as engine:
        # Warm both paths once (first-call allocations, kernel selection) before timing.
        warm = JobSpec("warm-up", user_id=-1, guild_id=None, request=jobs[0].request)
        await engine.submit(warm).result()
        _baseline(pipes, jobs[:1], default_guidance(family))
        single = _baseline(pipes, jobs[:3], default_guidance(family))
        batch_1_latency = min(b - a for a, b in zip([0.0, *single], single, strict=False))
        baseline = _baseline(pipes, jobs, default_guidance(family))
        before = engine.snapshot()
        engine_latencies = await _through_engine(engine, jobs)
        after = engine.snapshot()
        boundary = getattr(engine._runner, "boundary_s", None)
    baseline_rate = len(jobs) / max(baseline)
    engine_rate = len(jobs) / max(engine_latencies)
    ceiling = ceiling_images_per_s(options.model, size, options.steps)
    batch_sizes = {  # the mix's batches only, not the warm-up's
        size: count - before.batch_sizes.get(size, 0)
        for size, count in after.batch_sizes.items()
        if count > before.batch_sizes.get(size, 0)
    }
    return BenchReport(
        device=_device_name(device),
        model=options.model + (" (random weights)" if options.random_weights else ""),
        size=f"{size}x{size}",
        steps=options.steps,
        users=options.users,
        jobs=len(jobs),
        baseline_images_per_s=round(baseline_rate, 3),
        engine_images_per_s=round(engine_rate, 3),
        ratio=round(engine_rate / baseline_rate, 3),
        p50_ms=round(percentile(engine_latencies, 0.5) * 1000, 1),
        p95_ms=round(percentile(engine_latencies, 0.95) * 1000, 1),
        baseline_p50_ms=round(percentile(baseline, 0.5) * 1000, 1),
        baseline_p95_ms=round(percentile(baseline, 0.95) * 1000, 1),
        batch_1_latency_ms=round(batch_1_latency * 1000, 1),
        ceiling_pct=None
        if ceiling is None or device.type != "cuda"
        else round(100 * engine_rate / ceiling, 2),
        batch_sizes=batch_sizes,
        redecodes=after.redecodes - before.redecodes,
        machine=_machine(device, dtype, options),
        compile_warm_up_s=round(warm_up_s, 1),
        worker=options.worker,
        # Every image the worker process made, the warm-up included.
        boundary_ms_per_image=None
        if boundary is None
        else round(1000 * boundary / (len(jobs) + 1), 3),
    )


def _worker_factory(options: BenchOptions, device, dtype):
    """The engine's runner in a worker process, built from the family's name as the bot does."""
    from generation.engine.worker_process import ProcessRunner, WorkerSpec

    if options.random_weights:
        raise ValueError("--worker process needs a named family, not --random-weights")
    spec = WorkerSpec(
        family=options.model,
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        compile_mode=options.compile_mode,
        warm_up=bool(options.compile_mode),
    )
    return lambda: ProcessRunner(spec)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type}: {_cpu_model()}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _machine(device: torch.device, dtype: torch.dtype, options: BenchOptions) -> dict:
    import diffusers

    return {
        "cpu": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "dtype": str(dtype).removeprefix("torch."),
        "batch_images": options.batch_images,
        "jobs_per_user": options.jobs_per_user,
        "date": time.strftime("%Y-%m-%d"),
        "quality": options.quality,
        "compile_mode": options.compile_mode,
    }


def write_json(report: BenchReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(report), indent=2) + "\n")
