"""The CUDA devices this process can use, as torch numbers them (MIG slices included)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GpuInfo:
    """One visible CUDA device: what `doctor` compares with a family's needs."""

    index: int  # as in cuda:N, after CUDA_VISIBLE_DEVICES
    name: str
    free_bytes: int
    total_bytes: int
    compute_capability: tuple[int, int]


def visible_gpus() -> list[GpuInfo]:
    """Every device torch can use here, with its free memory; [] without CUDA, at no GPU cost.

    Asks torch rather than parsing nvidia-smi: nvidia-smi lists whole cards, misses MIG slices,
    and numbers them before CUDA_VISIBLE_DEVICES is applied, unlike cuda:N.
    """
    import torch

    if not torch.cuda.is_available():
        return []
    gpus = []
    for index in range(torch.cuda.device_count()):
        properties = torch.cuda.get_device_properties(index)
        free, total = torch.cuda.mem_get_info(index)
        gpus.append(
            GpuInfo(
                index=index,
                name=properties.name,
                free_bytes=free,
                total_bytes=total,
                compute_capability=(properties.major, properties.minor),
            )
        )
    return gpus
