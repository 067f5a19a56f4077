"""The fast path on the CPU: batch buckets, the torch.compile path (tiny, a cheap backend)."""

from __future__ import annotations

import pytest

from generation.modes import Mode
from generation.modes.pipelines import BATCH_BUCKETS, PipelineSet, batch_bucket
from tests.generation.helpers import make_request, max_diff, run


@pytest.mark.parametrize(("count", "bucket"), [(1, 1), (2, 2), (3, 4), (5, 8), (9, 16), (40, 40)])
def test_batches_round_up_to_a_few_sizes(count, bucket):
    assert batch_bucket(count) == bucket
    assert BATCH_BUCKETS == (1, 2, 4, 8, 16, 32)


@pytest.fixture(scope="module")
def compiled_pipelines(tiny_family, tiny_styles):
    # aot_eager runs the whole torch.compile path (Dynamo tracing, AOT autograd) without
    # generating kernels, which takes minutes on a 2-core CPU; GPUs use inductor.
    return PipelineSet(
        tiny_family, styles=tiny_styles, compile_mode="max-autotune", compile_backend="aot_eager"
    )


def test_compiled_batches_are_padded_to_a_bucket_and_still_equal_single_runs(
    compiled_pipelines, tiny_pipelines
):
    unet = compiled_pipelines.pipeline(Mode.TXT2IMG).unet
    assert getattr(unet, "_lcm_compiled", False)
    seen = []
    handle = unet.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    try:
        three = make_request(compiled_pipelines, Mode.TXT2IMG, seed=21, count=3)
        result = run(compiled_pipelines, three)
    finally:
        handle.remove()
    assert set(seen) == {4}, "three images ran as a batch of four"
    assert len(result.images) == 3 and result.seeds == (21, 22, 23)
    for seed, image in zip(result.seeds, result.images, strict=True):
        plain = run(tiny_pipelines, make_request(tiny_pipelines, Mode.TXT2IMG, seed=seed))
        assert max_diff(image, plain.images[0]) <= 1


def test_modes_built_later_are_compiled_too(compiled_pipelines, photo):
    request = make_request(compiled_pipelines, Mode.IMG2IMG, photo=photo, count=3)
    assert len(run(compiled_pipelines, request).images) == 3
    assert getattr(compiled_pipelines.pipeline(Mode.IMG2IMG).unet, "_lcm_compiled", False)


def test_warm_up_runs_every_bucket(tiny_pipelines):
    # Observe the real UNet: one forward per warm-up job, its batch the bucket size (the tiny
    # family's guidance 1 runs no classifier-free guidance, so nothing is doubled). The plain
    # set runs the same warm_up as a compiled one, without a minute of recompiles per bucket.
    unet = tiny_pipelines.pipeline(Mode.TXT2IMG).unet
    seen = []
    handle = unet.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    try:
        seconds = tiny_pipelines.warm_up()
    finally:
        handle.remove()
    assert set(seen) == set(BATCH_BUCKETS), f"UNet batch sizes during warm-up: {seen}"
    assert seconds > 0


@pytest.fixture(scope="module")
def fused_pipelines(tiny_family, tiny_styles):
    return PipelineSet(tiny_family, styles=tiny_styles, fuse_lcm_lora=True)


@pytest.mark.parametrize("mode", [Mode.TXT2IMG, Mode.INPAINT, Mode.ANIMATE], ids=str)
def test_a_fused_lcm_lora_gives_the_unfused_images(
    fused_pipelines, tiny_pipelines, mode, photo, centre_mask
):
    from generation.models.styles import StyleChoice

    assert tiny_pipelines.fuse_lcm_lora is False, "CPUs keep the adapter unfused by default"
    for styles in ((), (StyleChoice("neon", 0.9),)):
        fused = run(
            fused_pipelines,
            make_request(fused_pipelines, mode, photo=photo, mask=centre_mask, styles=styles),
        )
        plain = run(
            tiny_pipelines,
            make_request(tiny_pipelines, mode, photo=photo, mask=centre_mask, styles=styles),
        )
        fused_pictures = list(fused.images) or list(fused.animations[0])
        plain_pictures = list(plain.images) or list(plain.animations[0])
        for a, b in zip(fused_pictures, plain_pictures, strict=True):
            assert max_diff(a, b) <= 2, "merging W + BA is exact up to float rounding"
    unet = fused_pipelines.pipeline(mode).unet
    assert "lcm" not in getattr(unet, "peft_config", {}), "the merged adapter is gone"


def test_weight_accounting_matches_the_parameters_held(tiny_pipelines):
    from generation.modes.pipelines import images_that_fit

    tiny_pipelines.pipeline(Mode.CONTROLNET)
    held = tiny_pipelines.weight_bytes()
    base = tiny_pipelines.pipeline(Mode.TXT2IMG)
    unet_bytes = sum(p.numel() * 4 for p in base.unet.parameters())
    assert held["unet"] >= unet_bytes  # float32 parameters, plus buffers
    assert "controlnet:controlnet" in held
    assert not any(key.endswith(":unet") for key in held if key.startswith("controlnet")), (
        "the shared UNet is counted once"
    )
    assert images_that_fit(10 * 2**30, 2**30) == 9
    with pytest.raises(ValueError):
        images_that_fit(1, 0)
