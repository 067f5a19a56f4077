"""NaN or black decodes are decoded again in float32, once, on the real tiny VAE."""

from __future__ import annotations

import pytest
import torch

from generation.modes import Mode
from tests.generation.helpers import make_request, pixels, run


@pytest.fixture(scope="module")
def half_precision_pipelines(tiny_family):
    from generation.modes.pipelines import PipelineSet

    return PipelineSet(tiny_family, dtype=torch.bfloat16)


def _poison_low_precision_decodes(vae):
    """Make the VAE decoder overflow to NaN whenever it runs below float32, as fp16 VAEs do."""

    def hook(module, inputs, output):
        return output.fill_(float("nan")) if output.dtype != torch.float32 else output

    return vae.decoder.conv_out.register_forward_hook(hook)


@pytest.mark.parametrize("mode", [Mode.TXT2IMG, Mode.ANIMATE], ids=str)
def test_nan_output_is_decoded_again_in_float32(half_precision_pipelines, mode):
    pipes = half_precision_pipelines
    request = make_request(pipes, mode, count=2)
    clean = run(pipes, request)
    assert clean.redecoded is False

    handle = _poison_low_precision_decodes(pipes.pipeline(mode).vae)
    try:
        healed = run(pipes, request)
    finally:
        handle.remove()

    assert healed.redecoded is True
    assert healed.warnings == ()
    pictures = list(healed.images) or [f for frames in healed.animations for f in frames]
    assert all(pixels(p).max() > 0 for p in pictures), "no black picture comes back"
    assert pipes.pipeline(mode).vae.dtype == torch.bfloat16, "the VAE returns to its dtype"


def test_output_still_bad_in_float32_is_reported_not_hidden(half_precision_pipelines):
    pipes = half_precision_pipelines
    vae = pipes.pipeline(Mode.TXT2IMG).vae

    def always_nan(module, inputs, output):
        return output.fill_(float("nan"))

    handle = vae.decoder.conv_out.register_forward_hook(always_nan)
    try:
        result = run(pipes, make_request(pipes, Mode.TXT2IMG))
    finally:
        handle.remove()
    assert result.redecoded is True
    assert any("NaN or black" in w for w in result.warnings)


@pytest.mark.parametrize("mode", [Mode.TXT2IMG, Mode.ANIMATE], ids=str)
def test_the_fast_tier_decodes_with_taesd(tiny_pipelines, mode):
    full = run(tiny_pipelines, make_request(tiny_pipelines, mode, count=2))
    fast = run(tiny_pipelines, make_request(tiny_pipelines, mode, count=2, quality="fast"))
    decoder = tiny_pipelines.fast_decoder()
    assert type(decoder).__name__ == "AutoencoderTiny"

    def pictures(result):
        return list(result.images) or [f for frames in result.animations for f in frames]

    assert [p.size for p in pictures(fast)] == [p.size for p in pictures(full)]
    assert all(
        pixels(a).tolist() != pixels(b).tolist()
        for a, b in zip(pictures(fast), pictures(full), strict=True)
    )
    again = run(tiny_pipelines, make_request(tiny_pipelines, mode, count=2, quality="fast"))
    assert all(
        pixels(a).tolist() == pixels(b).tolist()
        for a, b in zip(pictures(fast), pictures(again), strict=True)
    )


def test_fast_and_full_quality_never_share_a_batch(tiny_pipelines):
    full = make_request(tiny_pipelines, Mode.TXT2IMG)
    fast = make_request(tiny_pipelines, Mode.TXT2IMG, quality="fast")
    assert full.batch_key() != fast.batch_key()
