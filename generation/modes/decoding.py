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


def decode_batch(pipe, latents: torch.Tensor, *, video: bool, taesd=None) -> DecodedBatch:
    """Decode ``latents`` with ``pipe``'s VAE, or with ``taesd`` (the fast tier) when given.

    Items that come out NaN or black are decoded again in float32, once: a half-precision VAE
    overflowing is the usual cause (SD/SDXL VAEs in fp16).
    """
    decoder = taesd if taesd is not None else pipe.vae
    # SDXL's VAE is marked force_upcast: its fp16 decode overflows, so the pipelines upcast it.
    upcast = decoder.dtype == torch.float16 and getattr(decoder.config, "force_upcast", False)
    decoded = _decode(pipe, decoder, latents, video=video, float32=upcast)
    bad = _bad_items(decoded)
    redecoded = [False] * len(bad)
    if any(bad) and not upcast:
        indices = [i for i, is_bad in enumerate(bad) if is_bad]
        log.warning("NaN or black output for batch items %s: decoding again in float32", indices)
        again = _decode(pipe, decoder, latents[indices], video=video, float32=True)
        for slot, i in enumerate(indices):
            decoded[i] = again[slot]
            redecoded[i] = True
        bad = _bad_items(decoded)
    return DecodedBatch(_postprocess(pipe, decoded, video=video), redecoded, bad)


def _decode(pipe, decoder, latents: torch.Tensor, *, video: bool, float32: bool) -> torch.Tensor:
    original = decoder.dtype
    if float32 and original != torch.float32:
        decoder.to(torch.float32)
    try:
        latents = latents.to(decoder.dtype)
        if video:
            return _decode_video(decoder, latents)
        return decoder.decode(_unscale(decoder, latents), return_dict=False)[0].float()
    finally:
        if decoder.dtype != original:
            decoder.to(original)


def _decode_video(decoder, latents: torch.Tensor) -> torch.Tensor:
    """(batch, channels, frames, h, w) latents → (batch, 3, frames, H, W), as AnimateDiff does."""
    batch, channels, frames, height, width = latents.shape
    flat = latents.permute(0, 2, 1, 3, 4).reshape(batch * frames, channels, height, width)
    pictures = torch.cat(
        [
            decoder.decode(_unscale(decoder, chunk), return_dict=False)[0]
            for chunk in flat.split(16)  # bounded memory for long clips
        ]
    )
    pictures = pictures.reshape(batch, frames, *pictures.shape[1:]).permute(0, 2, 1, 3, 4)
    return pictures.float()


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
    if decoded.is_cuda:
        # One pinned, asynchronous device-to-host copy instead of a pageable one per image.
        host = torch.empty(decoded.shape, dtype=decoded.dtype, pin_memory=True)
        host.copy_(decoded, non_blocking=True)
        torch.cuda.current_stream(decoded.device).synchronize()
        decoded = host
    if video:
        return [list(frames) for frames in pipe.video_processor.postprocess_video(decoded, "pil")]
    return [[image] for image in pipe.image_processor.postprocess(decoded, output_type="pil")]
