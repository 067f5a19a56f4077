"""Upscaler files, loaded by their architecture through spandrel: ESRGAN, SwinIR, HAT, DAT, ...

spandrel reads the architecture and its hyperparameters (scale, width, depth) from a state dict's
keys and shapes, as a file of the Real-ESRGAN family carries them. Only safetensors files are read,
here, into a state dict: spandrel is never handed a path, so no pickle is ever unpickled.
"""

from __future__ import annotations

from pathlib import Path

import torch

from generation.errors import ModelUnavailable


def load_upscaler(path: Path | str, *, scale: int, device="cpu", dtype=torch.float32):
    """The super-resolution model in ``path``, ×``scale``, in eval mode on ``device``.

    Returns spandrel's ImageModelDescriptor: call it on a (1, 3, H, W) tensor in 0..1; it has
    ``scale``, ``device`` and ``dtype``. Anything else (not safetensors, an architecture spandrel
    does not know, a face restorer or an inpainter, another scale) is refused by name.
    """
    import spandrel
    from safetensors.torch import load_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ModelUnavailable(f"cannot load the upscaler {path}: only .safetensors files are read")
    try:
        state = load_file(str(path))
    except Exception as exc:  # missing, unreadable, truncated, an HTML page saved as a file, ...
        raise ModelUnavailable(f"cannot read the upscaler {path}: {_first_line(exc)}") from exc
    try:
        model = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError as exc:
        raise ModelUnavailable(
            f"cannot load the upscaler {path}: its keys match no architecture spandrel knows "
            "(ESRGAN, SwinIR, HAT, DAT, ...)"
        ) from exc
    except Exception as exc:  # recognised, but its sizes or weights do not fit that network
        raise ModelUnavailable(
            f"cannot load the upscaler {path}: its weights do not fit the network spandrel "
            f"took it for: {_first_line(exc)}"
        ) from exc
    name = model.architecture.name
    if not isinstance(model, spandrel.ImageModelDescriptor) or model.purpose != "SR":
        raise ModelUnavailable(
            f"cannot load the upscaler {path}: it is a {name} model for {model.purpose}, "
            "not super-resolution"
        )
    if model.scale != scale:
        raise ModelUnavailable(
            f"cannot load the upscaler {path}: it is a ×{model.scale} {name}, not ×{scale}"
        )
    # An architecture that cannot run in half precision runs in float32 on the same device.
    half = dtype in (torch.float16, torch.bfloat16)
    supported = model.supports_half if dtype == torch.float16 else model.supports_bfloat16
    return model.to(device).to(dtype if not half or supported else torch.float32).eval()


def _first_line(exc: Exception) -> str:
    """The most telling line of an error: its first one with words (a state-dict error's first
    line only announces the list that follows), or its type."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = [line for line in lines if not line.endswith(":")] or lines
    return f"{type(exc).__name__}: {detail[0]}" if detail else type(exc).__name__
