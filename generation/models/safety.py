"""The safety check: per-image NSFW flags from the SD safety checker, never a blacked-out image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL.Image import Image

from generation.errors import ModelUnavailable


class SafetyChecker:
    """Wraps ``StableDiffusionSafetyChecker`` to report flags and leave the pixels alone.

    The pipelines' built-in checker replaces flagged images with black squares; the bot needs the
    image and the flag separately so each server's policy (block, spoiler, allow in age-restricted
    channels) can be applied.
    """

    def __init__(self, model, processor, device: torch.device, dtype: torch.dtype) -> None:
        self.model = model
        self._processor = processor
        self._device = device
        self._dtype = dtype

    @classmethod
    def load(cls, source: str, *, device: torch.device, dtype: torch.dtype) -> SafetyChecker:
        from diffusers.pipelines.stable_diffusion.safety_checker import (
            StableDiffusionSafetyChecker,
        )
        from transformers import CLIPImageProcessor

        try:
            model = StableDiffusionSafetyChecker.from_pretrained(
                source, dtype=dtype, use_safetensors=True
            )
            processor = CLIPImageProcessor.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"cannot load the safety checker from {source}: {exc}") from exc
        model.to(device).eval()
        return cls(model, processor, device, dtype)

    def check(self, images: Sequence[Image]) -> list[bool]:
        """One flag per image: True where the checker found NSFW content."""
        if not images:
            return []
        clip_input = self._processor(images=list(images), return_tensors="pt").pixel_values
        # The checker blacks out its `images` argument in place; hand it a throwaway copy.
        scratch = np.zeros((len(images), 8, 8, 3), dtype=np.float32)
        with torch.inference_mode():
            _, flags = self.model(
                images=scratch, clip_input=clip_input.to(self._device, self._dtype)
            )
        return [bool(flag) for flag in flags]
