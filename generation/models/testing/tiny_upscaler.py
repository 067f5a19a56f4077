"""Build the offline tiny upscaler: a few-block RRDBNet per factor, random weights, safetensors.

The folder has the real repository's file names (generation.models.families.REAL_ESRGAN_FILES)
and the real files' key names (basicsr's RRDBNet, written by the network below), so the production
path (generation.modes.upscale → generation.models.upscalers.load_upscaler, through spandrel)
reads it unchanged. The network here only writes files: production never builds it.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from generation.models.families import REAL_ESRGAN_FILES
from generation.models.testing.tiny_models import build_once

TINY_UPSCALER_VERSION = 2
# Real-ESRGAN x4plus is 64 features, 23 blocks, growth 32 (16.7 M parameters); this is ≈0.2 M.
# The growth stays 32: spandrel reads width and depth from the keys but takes ESRGAN's growth as 32.
TINY_RRDB = dict(features=8, blocks=1, growth=32)
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


class _DenseBlock(nn.Module):
    """Five convolutions, each fed every earlier output (ESRGAN's residual dense block)."""

    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        widths = [features + i * growth for i in range(5)]
        for i in range(4):
            setattr(self, f"conv{i + 1}", nn.Conv2d(widths[i], growth, 3, 1, 1))
        self.conv5 = nn.Conv2d(widths[4], features, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for i in range(1, 5):
            conv = getattr(self, f"conv{i}")
            outputs.append(functional.leaky_relu(conv(torch.cat(outputs, 1)), 0.2))
        return x + 0.2 * self.conv5(torch.cat(outputs, 1))


class _RRDB(nn.Module):
    def __init__(self, features: int, growth: int) -> None:
        super().__init__()
        self.rdb1 = _DenseBlock(features, growth)
        self.rdb2 = _DenseBlock(features, growth)
        self.rdb3 = _DenseBlock(features, growth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """Real-ESRGAN's generator: x4 natively; x2 and x1 fold the input with pixel-unshuffle."""

    def __init__(self, *, scale: int, features: int, blocks: int, growth: int) -> None:
        super().__init__()
        self.scale = scale
        unshuffle = {4: 1, 2: 2, 1: 4}[scale]
        self._unshuffle = unshuffle
        self.conv_first = nn.Conv2d(3 * unshuffle * unshuffle, features, 3, 1, 1)
        self.body = nn.Sequential(*(_RRDB(features, growth) for _ in range(blocks)))
        self.conv_body = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_hr = nn.Conv2d(features, features, 3, 1, 1)
        self.conv_last = nn.Conv2d(features, 3, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._unshuffle > 1:
            x = functional.pixel_unshuffle(x, self._unshuffle)
        feature = self.conv_first(x)
        feature = feature + self.conv_body(self.body(feature))
        for conv in (self.conv_up1, self.conv_up2):
            feature = functional.interpolate(feature, scale_factor=2, mode="nearest")
            feature = functional.leaky_relu(conv(feature), 0.2)
        return self.conv_last(functional.leaky_relu(self.conv_hr(feature), 0.2))
