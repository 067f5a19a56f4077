"""Which devices get a worker: ``LCM_DEVICES`` (``cuda:0,cuda:1``, ``all``, ``cpu,cpu``)."""

from __future__ import annotations

import os

from generation.errors import InvalidInput


def worker_devices(setting: str, default: str = "auto") -> list[str]:
    """One entry per worker. Empty: one worker on ``default`` (LCM_DEVICE), as before.

    ``all`` is every visible CUDA device (MIG slices count), or one worker on ``default`` when
    there is none. A device may be named twice (``cpu,cpu``): two workers share it.
    """
    setting = setting.strip().lower()
    if not setting:
        return [default]
    if setting == "all":
        from generation.models.gpus import visible_gpus

        gpus = visible_gpus()
        return [f"cuda:{gpu.index}" for gpu in gpus] if gpus else [default]
    devices = [name.strip() for name in setting.split(",")]
    if any(not name for name in devices):
        raise InvalidInput("devices", f"an empty name in {setting!r}", "cuda:0,cuda:1 or all")
    return devices


def cpu_threads(devices: list[str], cores: int | None = None) -> int | None:
    """torch threads for each CPU worker: the cores shared out, so workers do not fight for them.

    None when no worker runs on the CPU (a GPU worker needs only a thread or two to feed it).
    """
    on_cpu = sum(1 for device in devices if device == "cpu")
    if not on_cpu:
        return None
    return max(1, (cores or os.cpu_count() or 1) // on_cpu)
