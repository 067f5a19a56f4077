"""How the scheduler reaches its workers: a process per device here, or Ray actors anywhere.

Without a Ray address nothing of Ray is imported or started: the one import sits behind it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace

from generation.engine.placement import cpu_threads
from generation.engine.worker_process import ProcessRunner, WorkerSpec, build_pipelines


def worker_factories(
    spec: WorkerSpec,
    devices: list[str],
    *,
    heartbeat_s: float = 120.0,
    ray_address: str = "",
    ray_workers: int = 0,
    build: Callable = build_pipelines,
    threads: int | None = None,
) -> list[Callable]:
    """One runner factory per worker, for ``Engine([...])``.

    Processes: one per entry of ``devices`` (CPU workers share the cores, or take ``threads``
    each). Ray: one actor per GPU in the cluster (``ray_workers`` to choose), or per entry of
    ``devices`` on a cluster without.
    """
    if ray_address:
        from generation.engine import ray_workers as ray_side

        ray_side.connect(ray_address)
        count = ray_workers or ray_side.cluster_workers(cpu_fallback=len(devices))
        gpu = ray_side.cluster_has_gpus()
        # A CPU actor asks Ray for one core, and uses one.
        actor = replace(spec, device="cuda" if gpu else "cpu", torch_threads=None if gpu else 1)
        return [
            ray_side.RayWorkerFactory(actor, build=build, heartbeat_s=heartbeat_s)
            for _ in range(count)
        ]
    threads = threads or cpu_threads(devices)
    return [
        functools.partial(
            ProcessRunner,
            replace(spec, device=device, torch_threads=threads if device == "cpu" else None),
            build=build,
            heartbeat_s=heartbeat_s,
        )
        for device in devices
    ]
