"""The ESRGAN / Real-ESRGAN RRDB network, built from a safetensors file's own keys and shapes.

The published Real-ESRGAN files (RealESRGAN_x4plus, RealESRGAN_x2plus, the anime 6-block one)
carry basicsr's key names: ``conv_first``, ``body.<i>.rdb<1-3>.conv<1-5>``, ``conv_body``,
``conv_up1/2``, ``conv_hr``, ``conv_last``. The scale, width and depth are read from those keys
(as spandrel does), and the weights load with ``strict=True``, so a file of another architecture
is refused rather than half-loaded.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from generation.errors import ModelUnavailable


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


_BLOCK_KEY = re.compile(r"^body\.(\d+)\.rdb1\.conv1\.weight$")


def esrgan_shape(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """Scale, width, depth and growth of an RRDBNet state dict, read from its keys."""
    try:
        first = state["conv_first.weight"]
        growth = state["body.0.rdb1.conv1.weight"].shape[0]
    except KeyError as exc:
        raise ValueError(f"not an ESRGAN (RRDBNet) state dict: no {exc.args[0]}") from exc
    folded = first.shape[1] // 3  # 1, 4 or 16 input planes per colour: x4, x2, x1
    scales = {1: 4, 4: 2, 16: 1}
    if folded not in scales:
        raise ValueError(f"conv_first takes {first.shape[1]} channels; ESRGAN takes 3, 12 or 48")
    blocks = 1 + max(int(m[1]) for key in state if (m := _BLOCK_KEY.match(key)))
    return dict(scale=scales[folded], features=first.shape[0], blocks=blocks, growth=growth)


def load_esrgan(path: Path | str, *, device="cpu", dtype=torch.float32) -> RRDBNet:
    """The network in ``path`` (safetensors only: never a pickle), in eval mode on ``device``."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
        model = RRDBNet(**esrgan_shape(state))
        model.load_state_dict(state, strict=True)
    except (OSError, ValueError, RuntimeError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelUnavailable(f"cannot load the upscaler {path}: {first_line}") from exc
    return model.eval().to(device=device, dtype=dtype)
