"""Build the offline tiny upscaler: a few-block RRDBNet per factor, random weights, safetensors.

The folder has the real repository's file names (generation.models.families.REAL_ESRGAN_FILES),
so the production path (generation.modes.upscale → generation.models.esrgan.load_esrgan) reads
it unchanged.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import torch

from generation.models.esrgan import RRDBNet
from generation.models.families import REAL_ESRGAN_FILES
from generation.models.testing.tiny_models import build_once

TINY_UPSCALER_VERSION = 1
# Real-ESRGAN x4plus is 64 features, 23 blocks, growth 32 (16.7 M parameters); this is ≈22 k.
TINY_RRDB = dict(features=8, blocks=1, growth=4)
_SEED = 1809_00219  # the ESRGAN paper's arXiv number; any constant works


def ensure_tiny_upscaler() -> Path:
    """The tiny upscaler's folder, built on first use (safe across processes)."""
    return build_once(f"tiny-upscaler-v{TINY_UPSCALER_VERSION}", write_tiny_upscaler)


def write_tiny_upscaler(folder: Path) -> None:
    """One RRDBNet per factor under its real file name in ``folder``."""
    for scale, name in REAL_ESRGAN_FILES.items():
        write_esrgan(folder / name, {"real": {"scale": scale}, "shrunk": TINY_RRDB})


def write_esrgan(path: Path, component: dict) -> None:
    """A random RRDBNet of the component's real scale and shrunk size, as a safetensors file."""
    from safetensors.torch import save_file

    shape = {**component["real"], **component["shrunk"]}
    torch.manual_seed(_SEED + zlib.crc32(path.name.encode()))
    model = tiny_rrdb(**shape)
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata={"format": "pt"})


def tiny_rrdb(*, scale: int, features: int, blocks: int, growth: int) -> RRDBNet:
    """A random few-block RRDBNet whose output is still a picture, not noise.

    Fresh convolutions would map every pixel to a near-constant grey; conv_last is pulled
    towards the identity on each colour so the output keeps the input's picture, as a trained
    upscaler does, and the random body adds a little texture on top.
    """
    model = RRDBNet(scale=scale, features=features, blocks=blocks, growth=growth)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.mul_(0.1)
                module.bias.zero_()
        # conv_first and the path up: pass the (unfolded) colours through the first 3 features.
        planes = model.conv_first.in_channels // 3
        for colour in range(3):
            model.conv_first.weight[colour, colour * planes : (colour + 1) * planes, 1, 1] = (
                1.0 / planes
            )
            for conv in (model.conv_up1, model.conv_up2, model.conv_hr):
                conv.weight[colour, colour, 1, 1] = 1.0
            model.conv_last.weight[colour, colour, 1, 1] = 1.0
    return model
