"""Pick the torch device and dtype from the `auto` / explicit settings."""

from __future__ import annotations

import torch

from generation.errors import InvalidInput

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` takes CUDA, then Apple's MPS, then the CPU."""
    name = name.lower()
    if name.startswith("cuda:"):
        name, index = "cuda", name.split(":", 1)[1]
    else:
        index = None
    if name not in DEVICES:
        raise InvalidInput("device", f"unknown device {name!r}", ", ".join(DEVICES) + ", cuda:N")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InvalidInput(
            "device", "CUDA was asked for but no CUDA device is visible", "cpu, auto"
        )
    return torch.device(f"cuda:{index}" if index is not None else name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` is float16 on GPUs (LCM was distilled for it) and float32 on the CPU."""
    name = name.lower()
    if name == "auto":
        return torch.float32 if device.type == "cpu" else torch.float16
    if name not in DTYPES:
        raise InvalidInput("dtype", f"unknown dtype {name!r}", "auto, " + ", ".join(DTYPES))
    return DTYPES[name]


def empty_device_cache() -> None:
    """Return cached allocator blocks to the driver after an out-of-memory error."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif torch.backends.mps.is_available():
        torch.mps.empty_cache()


def memory_bytes(device: torch.device) -> tuple[int, int] | None:
    """(allocated, peak allocated) bytes on a CUDA device; None elsewhere."""
    if device.type != "cuda":
        return None
    return torch.cuda.memory_allocated(device), torch.cuda.max_memory_allocated(device)
