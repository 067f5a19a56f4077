"""VAE decoding of a batch's latents, with one float32 retry for NaN or all-black output."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from PIL.Image import Image

log = logging.getLogger(__name__)

# A decoded pixel is in [-1, 1]; an image whose every value is at or below this is black.
_BLACK = -0.995


@dataclass(frozen=True)
class DecodedBatch:
    """Pictures per batch item (one image, or the frames of one animation) and what it took."""

    pictures: list[list[Image]]
    redecoded: list[bool]  # items decoded a second time in float32
    still_bad: list[bool]  # items that were NaN or black even in float32


def decode_batch(pipe, latents: torch.Tensor, *, video: bool) -> DecodedBatch:
    """Decode ``latents`` with ``pipe``'s VAE; items that come out NaN or black are decoded again
    in float32, once. A half-precision VAE overflowing is the usual cause (SD/SDXL VAEs in fp16).
    """
    vae = pipe.vae
    # SDXL's VAE is marked force_upcast: its fp16 decode overflows, so the pipelines upcast it.
    upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
    decoded = _decode(pipe, latents, video=video, float32=upcast)
    bad = _bad_items(decoded)
    redecoded = [False] * len(bad)
    if any(bad) and not upcast:
        indices = [i for i, is_bad in enumerate(bad) if is_bad]
        log.warning("NaN or black output for batch items %s: decoding again in float32", indices)
        again = _decode(pipe, latents[indices], video=video, float32=True)
        for slot, i in enumerate(indices):
            decoded[i] = again[slot]
            redecoded[i] = True
        bad = _bad_items(decoded)
    return DecodedBatch(_postprocess(pipe, decoded, video=video), redecoded, bad)


def _decode(pipe, latents: torch.Tensor, *, video: bool, float32: bool) -> torch.Tensor:
    vae = pipe.vae
    original = vae.dtype
    if float32 and original != torch.float32:
        vae.to(torch.float32)
    try:
        latents = latents.to(vae.dtype)
        if video:
            return pipe.decode_latents(latents).float()
        return vae.decode(_unscale(vae, latents), return_dict=False)[0].float()
    finally:
        if vae.dtype != original:
            vae.to(original)


def _unscale(vae, latents: torch.Tensor) -> torch.Tensor:
    config = vae.config
    mean = getattr(config, "latents_mean", None)
    std = getattr(config, "latents_std", None)
    if mean is not None and std is not None:
        shape = (1, latents.shape[1], 1, 1)
        mean_t = torch.tensor(mean).view(shape).to(latents.device, latents.dtype)
        std_t = torch.tensor(std).view(shape).to(latents.device, latents.dtype)
        return latents * std_t / config.scaling_factor + mean_t
    return latents / config.scaling_factor


def _bad_items(decoded: torch.Tensor) -> list[bool]:
    flat = decoded.reshape(decoded.shape[0], -1)
    nan = torch.isnan(flat).any(dim=1)
    black = (flat.nan_to_num(nan=-1.0) <= _BLACK).all(dim=1)
    return (nan | black).tolist()


def _postprocess(pipe, decoded: torch.Tensor, *, video: bool) -> list[list[Image]]:
    if video:
        return [list(frames) for frames in pipe.video_processor.postprocess_video(decoded, "pil")]
    return [[image] for image in pipe.image_processor.postprocess(decoded, output_type="pil")]
