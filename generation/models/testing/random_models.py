"""Full-size SD1.5 and SDXL architectures with random weights, for benchmarks without a model hub.

Same configs as the released models, so a GPU does the same work per image; built once into the
offline cache in the hub's layout (base pipeline + LCM-LoRA) and loaded by the ordinary code path.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

import torch

from generation.models.families import HUB_FAMILIES, ModelFamily
from generation.models.testing.tiny_models import (
    assemble_sd_pipeline,
    assemble_sdxl_pipeline,
    build_once,
    save_random_lora,
    seeded,
)

RANDOM_BUILD_VERSION = 3
# Bumped apart from the base: v3's sd15 ControlNet was shaped like the 9-channel inpainting UNet.
COMPANION_BUILD_VERSION = 4
LCM_LORA_RANK = 64  # the rank of latent-consistency/lcm-lora-sdv1-5 and -sdxl

_CLIP_L = dict(
    vocab_size=49408,
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    max_position_embeddings=77,
    hidden_act="quick_gelu",
    projection_dim=768,
    bos_token_id=49406,
    eos_token_id=49407,
    pad_token_id=49407,
)
_OPENCLIP_BIGG = dict(
    _CLIP_L,
    hidden_size=1280,
    intermediate_size=5120,
    num_hidden_layers=32,
    num_attention_heads=20,
    hidden_act="gelu",
    projection_dim=1280,
)
_VAE = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    block_out_channels=(128, 256, 512, 512),
    layers_per_block=2,
    latent_channels=4,
    norm_num_groups=32,
)
_SD15_UNET = dict(
    sample_size=64,
    in_channels=4,
    out_channels=4,
    down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    block_out_channels=(320, 640, 1280, 1280),
    layers_per_block=2,
    cross_attention_dim=768,
    attention_head_dim=8,
    norm_num_groups=32,
)
_SDXL_UNET = dict(
    sample_size=128,
    in_channels=4,
    out_channels=4,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    block_out_channels=(320, 640, 1280),
    layers_per_block=2,
    transformer_layers_per_block=(1, 2, 10),
    attention_head_dim=(5, 10, 20),
    cross_attention_dim=2048,
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816,
    norm_num_groups=32,
)
RANDOM_FAMILIES = ("sd15", "sdxl")
UNET_CONFIGS = {"sd15": _SD15_UNET, "sdxl": _SDXL_UNET}


def random_weight_family(name: str, *, companions: bool = False) -> ModelFamily:
    """``name`` (sd15 or sdxl) at full size with random weights.

    Without ``companions``: txt2img, img2img and inpaint (base UNet). With them: also the
    inpainting UNet (sd15), ControlNet and T2I-Adapter canny, and AnimateDiff (sd15), each at its
    released architecture, so every mode can be timed and measured on a GPU.
    """
    if name not in RANDOM_FAMILIES:
        raise ValueError(f"random weights exist for {', '.join(RANDOM_FAMILIES)}, not {name!r}")
    with _build_device():
        root = build_once(f"{name}-random-v{RANDOM_BUILD_VERSION}", _BUILDERS[name])
        extra = None
        if companions:
            extra = build_once(
                f"{name}-random-companions-v{COMPANION_BUILD_VERSION}", _COMPANIONS[name]
            )
    family = HUB_FAMILIES[name]
    return replace(
        family,
        description=family.description + " — random weights",
        base=str(root / "base"),
        lcm_lora=replace(family.lcm_lora, source=str(root / "lcm-lora")),
        inpaint_unet=str(extra / "inpaint") if extra and name == "sd15" else None,
        controlnet_canny=str(extra / "controlnet-canny") if extra else None,
        t2i_adapter_canny=str(extra / "t2i-adapter-canny") if extra else None,
        motion_adapter=str(extra / "motion-adapter") if extra and name == "sd15" else None,
        motion_loras={},
        taesd=str(root / "taesd"),
    )


def _build_device():
    """Random init of a billion parameters is minutes on a CPU and seconds on a GPU."""
    return torch.device("cuda") if torch.cuda.is_available() else contextlib.nullcontext()


def sd15_companion_models():
    """Yield (folder, model) for each sd15 companion at its released architecture, one at a time.

    A generator, so a build holds one companion besides nothing else; under ``torch.device("meta")``
    the same code gives shape-only models for tests.
    """
    from diffusers import MotionAdapter, T2IAdapter, UNet2DConditionModel

    seeded(110)
    yield "inpaint/unet", UNet2DConditionModel(**{**_SD15_UNET, "in_channels": 9})
    # lllyasviel/control_v11p_sd15_canny: the 4-channel base UNet's encoder with a 3-channel
    # conditioning input; the inpainting UNet's 9-channel conv_in would not take the latents.
    yield "controlnet-canny", controlnet_like(_SD15_UNET)
    # TencentARC/t2iadapter_canny_sd15v2: one (edge) input channel, 8x pixel unshuffle.
    yield (
        "t2i-adapter-canny",
        T2IAdapter(
            in_channels=1,
            channels=[320, 640, 1280, 1280],
            num_res_blocks=2,
            downscale_factor=8,
            adapter_type="full_adapter",
        ),
    )
    # guoyww/animatediff-motion-adapter-v1-5-2: a motion module after every resnet, and one in
    # the middle block.
    yield (
        "motion-adapter",
        MotionAdapter(
            block_out_channels=(320, 640, 1280, 1280),
            motion_layers_per_block=2,
            motion_mid_block_layers_per_block=1,
            motion_num_attention_heads=8,
            motion_norm_num_groups=32,
            motion_max_seq_length=32,
            use_motion_mid_block=True,
        ),
    )


def sdxl_companion_models():
    """Yield (folder, model) for each sdxl companion at its released architecture, one at a time."""
    from diffusers import T2IAdapter

    seeded(210)
    # diffusers/controlnet-canny-sdxl-1.0: the SDXL UNet's encoder, text-time embedding included.
    yield "controlnet-canny", controlnet_like(_SDXL_UNET)
    # TencentARC/t2i-adapter-canny-sdxl-1.0: one input channel, 16x unshuffle, XL feature layout.
    yield (
        "t2i-adapter-canny",
        T2IAdapter(
            in_channels=1,
            channels=[320, 640, 1280, 1280],
            num_res_blocks=2,
            downscale_factor=16,
            adapter_type="full_adapter_xl",
        ),
    )


def controlnet_like(unet_config: dict):
    """A random ControlNet shaped like the UNet of ``unet_config`` (what ``from_unet`` reads).

    The UNet is made on the meta device: only its config is read, so no weights are allocated.
    """
    from diffusers import ControlNetModel, UNet2DConditionModel

    with torch.device("meta"):
        shape = UNet2DConditionModel(**unet_config)
    return ControlNetModel.from_unet(shape, load_weights_from_unet=False)


def _companions_builder(models):
    def build(directory: Path) -> None:
        for folder, model in models():
            _save_model(model, directory / folder)
            del model  # free it before the next one is made

    return build


def _save_model(model, directory: Path) -> None:
    model.to(torch.float16).save_pretrained(str(directory), safe_serialization=True)


def _build_sd15(directory: Path) -> None:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    seeded(100)
    unet = UNet2DConditionModel(**_SD15_UNET)
    vae = AutoencoderKL(**_VAE, sample_size=512, scaling_factor=0.18215)
    text_encoder = CLIPTextModel(CLIPTextConfig(**_CLIP_L))
    pipe = assemble_sd_pipeline(directory, unet=unet, vae=vae, text_encoder=text_encoder)
    _save(pipe, directory)


def _build_sdxl(directory: Path) -> None:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    seeded(200)
    unet = UNet2DConditionModel(**_SDXL_UNET)
    vae = AutoencoderKL(**_VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=True)
    pipe = assemble_sdxl_pipeline(
        directory,
        unet=unet,
        vae=vae,
        text_encoder=CLIPTextModel(CLIPTextConfig(**_CLIP_L)),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**_OPENCLIP_BIGG)),
    )
    _save(pipe, directory)


def _save(pipe, directory: Path) -> None:
    from diffusers import AutoencoderTiny

    AutoencoderTiny().to(torch.float16).save_pretrained(  # TAESD's real shape
        str(directory / "taesd"), safe_serialization=True
    )
    save_random_lora(directory / "lcm-lora", unet=pipe.unet, seed=300, rank=LCM_LORA_RANK)
    pipe.to(torch.float16)  # half the disk; loading upcasts on CPUs
    pipe.save_pretrained(str(directory / "base"), safe_serialization=True)


_BUILDERS = {"sd15": _build_sd15, "sdxl": _build_sdxl}
COMPANION_MODELS = {"sd15": sd15_companion_models, "sdxl": sdxl_companion_models}
_COMPANIONS = {name: _companions_builder(models) for name, models in COMPANION_MODELS.items()}
