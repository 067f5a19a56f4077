"""`lcm-bot bench --workers N`: one burst through one worker and through N, side by side."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from generation.bench import BenchOptions, _device_name, _machine, _mix
from generation.engine import Engine, EngineConfig
from generation.engine.events import JobSpec


@dataclass
class WorkersReport:
    device: str
    model: str
    size: str
    steps: int
    users: int
    jobs: int  # per round
    rounds: int  # timed rounds each, alternating, after one untimed round that warms every worker
    workers: int
    transport: str  # "process" (one machine) or "ray"
    one_worker_images_per_s: float
    workers_images_per_s: float
    ratio: float
    torch_threads: dict[int, int | None]  # per CPU worker, by worker count
    batches_per_worker: list[int]  # how the N-worker run spread its batches
    load_average_before: list[float]
    load_average_after: list[float]
    machine: dict = field(default_factory=dict)
    # Through Ray, one 1-image job at a time on one worker: the wall time of the runner's call
    # beyond the actor's own pipeline call (Ray's share), and a worker process's share for
    # comparison (pickling and the pipe).
    overhead_ms_per_job: float | None = None
    process_boundary_ms_per_job: float | None = None

    def lines(self) -> list[str]:
        out = [
            f"device: {self.device}  model: {self.model}  size: {self.size}  steps: {self.steps}",
            f"mix: {self.jobs} jobs from {self.users} users at once, {self.rounds} timed rounds, "
            f"workers over {self.transport}",
            f"1 worker: {self.one_worker_images_per_s:.2f} images/s",
            f"{self.workers} workers: {self.workers_images_per_s:.2f} images/s "
            f"(batches per worker {self.batches_per_worker})",
            f"load average before {self.load_average_before}, after {self.load_average_after}",
            f"ratio: {self.workers} workers serve {self.ratio:.2f}× one worker's images/s",
        ]
        if self.overhead_ms_per_job is not None:
            out.append(
                f"Ray's overhead: {self.overhead_ms_per_job:.1f} ms per job (a worker process's: "
                f"{self.process_boundary_ms_per_job:.1f} ms)"
            )
        return out


async def run_workers_bench(
    options: BenchOptions, workers: int, *, rounds: int = 3, ray_address: str = ""
) -> WorkersReport:
    """Worker processes on this machine; with ``ray_address`` Ray actors (``local``: a two-node
    cluster on 127.0.0.1, started and stopped here), and Ray's overhead per job."""
    if ray_address != "local":
        return await _measure(options, workers, rounds, ray_address)
    from generation.engine.ray_local import LocalCluster

    # A node per actor: the one-worker engine's actor and the N-worker engine's, all at once.
    with LocalCluster(nodes=workers + 1) as address:
        return await _measure(options, workers, rounds, address)


async def _measure(
    options: BenchOptions, workers: int, rounds: int, ray_address: str
) -> WorkersReport:
    from generation.models.devices import resolve_device, resolve_dtype
    from generation.models.families import resolve_family

    family = resolve_family(options.model)
    device = resolve_device(options.device)
    dtype = resolve_dtype(options.dtype, device)
    size = options.size or family.default_size
    make = _factories(options, dtype, ray_address)
    before = [round(x, 2) for x in os.getloadavg()]
    overhead = boundary = None
    if ray_address:  # one job at a time, one worker: through Ray, then through a process
        overhead = await _boundary_ms(make(_devices(device, 1), 1), family, options, size)
        plain = _factories(options, dtype, "")(_devices(device, 1), 1)
        boundary = await _boundary_ms(plain, family, options, size)
    # A CPU worker stands for one device: one core each, so that 2 workers are 2 devices' worth
    # (and 1 worker does not get the cores the second one would use).
    per_worker = None if device.type == "cuda" else 1
    threads = {count: per_worker for count in (1, workers)}
    engines = {
        count: Engine(
            make(_devices(device, count), per_worker), family=family, config=_config(options, size)
        )
        for count in (1, workers)
    }
    spent = dict.fromkeys(engines, 0.0)
    async with contextlib.AsyncExitStack() as stack:
        for engine in engines.values():
            await stack.enter_async_context(engine)
            await _burst(engine, options, size, "warm")  # first-call allocations, every worker
        # Rounds alternate between the two, so that other work on the machine weighs on both
        # alike (an idle worker waits on its pipe and takes no CPU).
        for k in range(rounds):
            for count, engine in engines.items():
                started = time.perf_counter()
                await _burst(engine, options, size, f"r{k}")
                spent[count] += time.perf_counter() - started
        spread = [slot.batches for slot in engines[workers].workers]
    rates = {count: rounds * _jobs(options) / spent[count] for count in engines}
    return WorkersReport(
        device=_device_name(device),
        model=options.model,
        size=f"{size}x{size}",
        steps=options.steps,
        users=options.users,
        jobs=_jobs(options),
        rounds=rounds,
        workers=workers,
        transport="ray" if ray_address else "process",
        one_worker_images_per_s=round(rates[1], 3),
        workers_images_per_s=round(rates[workers], 3),
        ratio=round(rates[workers] / rates[1], 3),
        torch_threads=threads,
        batches_per_worker=spread,
        load_average_before=before,
        load_average_after=[round(x, 2) for x in os.getloadavg()],
        machine=_machine(device, dtype, options),
        overhead_ms_per_job=overhead,
        process_boundary_ms_per_job=boundary,
    )


def _jobs(options: BenchOptions) -> int:
    return options.users * options.jobs_per_user


def _devices(device, count: int) -> list[str]:
    if device.type == "cuda":
        return [f"cuda:{index}" for index in range(count)]
    return [str(device)] * count


def _config(options: BenchOptions, size: int) -> EngineConfig:
    return EngineConfig(
        batch_budget=options.batch_images * size * size,
        per_user_cap=options.jobs_per_user,
        global_cap=max(200, _jobs(options)),
        job_timeout_s=3600,
    )


async def _burst(engine: Engine, options: BenchOptions, size: int, tag: str) -> None:
    jobs = [
        JobSpec(f"{tag}-{job.job_id}", job.user_id, job.guild_id, job.request)
        for job in _mix(options, size)
    ]
    handles = [engine.submit(job) for job in jobs]
    await asyncio.gather(*(handle.result() for handle in handles))


async def _boundary_ms(factories, family, options: BenchOptions, size: int, jobs: int = 20):
    """The runner's crossing time per 1-image job, one job at a time (after a warm-up job)."""
    requests = [job.request for job in _mix(options, size)]
    async with Engine(factories, family=family, config=_config(options, size)) as engine:
        await engine.submit(JobSpec("single-warm", 1, 1, requests[0])).result()
        before = engine._runner.boundary_s
        for k in range(jobs):
            request = requests[k % len(requests)]
            await engine.submit(JobSpec(f"single-{k}", 1, 1, request)).result()
        return round(1000 * (engine._runner.boundary_s - before) / jobs, 2)


def _factories(options: BenchOptions, dtype, ray_address: str):
    """``make(devices, threads)``: one runner factory per device, as `lcm-bot run` builds them."""
    from generation.engine.transport import worker_factories
    from generation.engine.worker_process import WorkerSpec

    def make(devices: list[str], threads: int | None):
        spec = WorkerSpec(family=options.model, dtype=str(dtype).removeprefix("torch."))
        return worker_factories(
            spec, devices, ray_address=ray_address, ray_workers=len(devices), threads=threads
        )

    return make


def write_json(report: WorkersReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(report), indent=2) + "\n")
