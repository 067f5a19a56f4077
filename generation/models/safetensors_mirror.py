"""A safetensors copy of a model that the hub publishes as a pickle file only, read safely."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from generation.errors import ModelUnavailable

# The one pickle-format file name the product names (tests/test_house_rules.py allows exactly
# this line): it is only ever read with torch.load(weights_only=True), below.
PICKLE_WEIGHTS_NAME = "diffusion_pytorch_model.bin"


def safetensors_mirror(source: str) -> str:
    """A local folder with ``source``'s config and its weights as safetensors; made once.

    The pickle file is read with ``torch.load(weights_only=True)``, which accepts tensors and
    plain containers only: a file that asks to build any other object is refused, not run. The
    mirror sits beside the hub cache and is keyed by the snapshot it came from, so an update of
    the repository makes a new mirror.
    """
    import torch
    from diffusers.utils.constants import CONFIG_NAME, SAFETENSORS_WEIGHTS_NAME
    from huggingface_hub import constants, hf_hub_download
    from safetensors.torch import save_file

    local = Path(source).expanduser()
    if local.is_dir():
        if (local / SAFETENSORS_WEIGHTS_NAME).exists():
            return str(local)  # a local folder that has safetensors already: nothing to convert
        config, weights = local / CONFIG_NAME, local / PICKLE_WEIGHTS_NAME
        if not weights.exists():
            raise ModelUnavailable(
                f"{source} has neither {SAFETENSORS_WEIGHTS_NAME} nor {weights.name}"
            )
        stat = weights.stat()  # a changed file makes a new mirror
        snapshot = f"local-{stat.st_size}-{stat.st_mtime_ns}"
    else:
        try:
            config = Path(hf_hub_download(source, CONFIG_NAME))
            weights = Path(hf_hub_download(source, PICKLE_WEIGHTS_NAME))
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"cannot fetch {source}: {exc}") from exc
        snapshot = config.parent.name  # the commit the hub cache holds
    mirror = Path(constants.HF_HOME) / "lcm-bot-safetensors" / _folder_name(source) / snapshot
    if (mirror / SAFETENSORS_WEIGHTS_NAME).exists():
        return str(mirror)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # any refusal by the restricted unpickler means "not loadable"
        raise ModelUnavailable(
            f"{source}: its pickle file holds more than plain tensors, so it is not loaded "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelUnavailable(f"{source}: its pickle file is not a state dict of tensors")
    staging = mirror.with_name(f"{mirror.name}.partial-{os.getpid()}")
    staging.mkdir(parents=True, exist_ok=True)
    # Tensors that share storage cannot be saved as safetensors; each gets its own copy.
    save_file(
        {k: v.contiguous().clone() for k, v in state.items()},
        staging / SAFETENSORS_WEIGHTS_NAME,
    )
    shutil.copyfile(config, staging / CONFIG_NAME)
    try:
        staging.rename(mirror)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # another process finished first
    return str(mirror)


def _folder_name(source: str) -> str:
    return source.strip("/").replace("/", "--").replace("\\", "--")
