"""Build the offline `tiny` and `tiny-xl` families: real architectures, random weights, on disk.

The tiny families are written in exactly the layout the hub uses (a diffusers pipeline folder,
companion model folders, LoRA `.safetensors` files), so the production loading code reads them
unchanged; only where the weights come from differs. Weights are seeded, so every build of one
version is identical.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch

from generation.models.families import TINY_FAMILIES
from generation.models.testing.clip_tokenizer import write_clip_tokenizer_files

# Bump when a config or the seeding changes, so stale caches are rebuilt instead of reused.
TINY_BUILD_VERSION = 5
_SEED = 20231109  # the LCM-LoRA paper's date; any constant works
_LORA_RANK = 4
# Module names a LoRA (LCM or style) targets in a UNet; conv_in is left out so the same LoRA fits
# the 9-channel inpainting UNet, as the real LCM-LoRA does.
UNET_LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "conv1", "conv2"]
TEXT_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


def cache_root() -> Path:
    """Where built tiny families live: ``LCM_TINY_CACHE``, else the user's cache directory."""
    explicit = os.environ.get("LCM_TINY_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lcm-bot" / "tiny"


def ensure_tiny_family(name: str) -> Path:
    """Return the folder of tiny family ``name``, built on first use (safe across processes)."""
    if name not in TINY_FAMILIES:
        raise ValueError(f"unknown tiny family {name!r}; choose one of {', '.join(TINY_FAMILIES)}")
    return build_once(f"{name}-v{TINY_BUILD_VERSION}", _BUILDERS[name])


def build_once(folder: str, builder: Callable[[Path], None]) -> Path:
    """Run ``builder`` into ``cache_root() / folder`` unless a complete build is already there."""
    target = cache_root() / folder
    if (target / "COMPLETE").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive_lock(target.parent / f".{folder}.lock"):
        if (target / "COMPLETE").exists():  # another process built it while we waited
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{folder}-", dir=target.parent))
        try:
            builder(staging)
            (staging / "COMPLETE").write_text(f"{TINY_BUILD_VERSION}\n")
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


@contextmanager
def _exclusive_lock(path: Path):
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- shared parts


def seeded(offset: int) -> None:
    """Seed torch so every build of a family draws the same random weights."""
    torch.manual_seed(_SEED + offset)


def clip_tokenizer(directory: Path, *, pad_token: str = "<|endoftext|>"):
    """The real SD tokenizer, rebuilt offline (a scratch folder under ``directory`` is used)."""
    from transformers import CLIPTokenizer

    files = directory / "_bpe"
    write_clip_tokenizer_files(files)
    # local_files_only is spelled out: transformers records it in tokenizer_config.json, and an
    # environment-dependent default would make two builds differ.
    tokenizer = CLIPTokenizer.from_pretrained(
        str(files), model_max_length=77, pad_token=pad_token, local_files_only=True
    )
    shutil.rmtree(files)
    return tokenizer


def _text_config(**extra):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=77,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
        projection_dim=32,
        **extra,
    )


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=(8, 16, 32, 32),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        scaling_factor=0.18215,
        sample_size=64,
    )


def lcm_scheduler():
    from diffusers import LCMScheduler

    return LCMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        original_inference_steps=50,
        timestep_scaling=10.0,
        steps_offset=1,
        clip_sample=False,
        set_alpha_to_one=False,
    )


def _wake_zero_layers(module: torch.nn.Module, pattern: str, std: float) -> None:
    """Give zero-initialised output layers real weights so a random companion changes the image.

    ControlNet's zero convolutions and AnimateDiff's zero `proj_out` make a fresh random companion a
    no-op; a test that wants to see the control image or motion matter needs them awake.
    """
    regex = re.compile(pattern)
    for name, sub in module.named_modules():
        if regex.search(name) and isinstance(sub, torch.nn.Conv2d | torch.nn.Linear):
            torch.nn.init.normal_(sub.weight, std=std)


def _lora_state(
    model: torch.nn.Module, targets: list[str], *, seed: int, exclude: str | None, rank: int
):
    """Inject a random (non-zero) LoRA into a throwaway copy of ``model`` and return its state."""
    import copy

    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model

    seeded(seed)
    clone = copy.deepcopy(model)
    config = LoraConfig(
        r=rank,
        lora_alpha=rank,
        target_modules=targets,
        exclude_modules=exclude,
        init_lora_weights=False,  # peft's default init is B = 0, an adapter that changes nothing
    )
    inject_adapter_in_model(config, clone)
    state = get_peft_model_state_dict(clone)
    # Random A and B at full strength swamp a 32-wide model; scale B so a LoRA is a nudge.
    return {k: v * 0.3 if "lora_B" in k else v for k, v in state.items()}


def save_random_lora(
    out_dir: Path,
    *,
    unet: torch.nn.Module,
    text_encoder: torch.nn.Module | None = None,
    seed: int,
    targets: list[str] | None = None,
    exclude: str | None = None,
    rank: int = _LORA_RANK,
) -> Path:
    """Write a random LoRA for ``unet`` (and optionally ``text_encoder``) in diffusers format."""
    from diffusers import StableDiffusionPipeline

    unet_targets = targets or UNET_LORA_TARGETS
    unet_state = _lora_state(unet, unet_targets, seed=seed, exclude=exclude, rank=rank)
    text_state = None
    if text_encoder is not None:
        text_state = _lora_state(
            text_encoder, TEXT_LORA_TARGETS, seed=seed + 1, exclude=None, rank=rank
        )
    StableDiffusionPipeline.save_lora_weights(
        str(out_dir), unet_lora_layers=unet_state, text_encoder_lora_layers=text_state
    )
    return out_dir / "pytorch_lora_weights.safetensors"


def assemble_sd_pipeline(directory: Path, *, unet, vae, text_encoder):
    """An SD1.5-shaped pipeline from parts, with the real tokenizer and the LCM scheduler."""
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=clip_tokenizer(directory),
        unet=unet,
        scheduler=lcm_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )


def assemble_sdxl_pipeline(directory: Path, *, unet, vae, text_encoder, text_encoder_2):
    """An SDXL-shaped pipeline from parts: two real tokenizers (the second pads with "!")."""
    from diffusers import StableDiffusionXLPipeline

    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=clip_tokenizer(directory),
        tokenizer_2=clip_tokenizer(directory, pad_token="!"),
        unet=unet,
        scheduler=lcm_scheduler(),
        image_encoder=None,
        feature_extractor=None,
    )


def _taesd(directory: Path, seed: int) -> None:
    """A tiny random TAESD: the same 8× decoder shape as madebyollin/taesd, 8 channels wide."""
    from diffusers import AutoencoderTiny

    seeded(seed)
    AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    ).save_pretrained(str(directory), safe_serialization=True)


def _safety_checker(directory: Path) -> None:
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    seeded(90)
    vision = dict(
        hidden_size=32,
        image_size=32,
        patch_size=8,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
    )
    text = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=32)
    checker = StableDiffusionSafetyChecker(config)
    checker.save_pretrained(str(directory), safe_serialization=True)
    processor = CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    processor.save_pretrained(str(directory))


# --------------------------------------------------------------------------- tiny (SD1.5-shaped)

_SD_BLOCKS = dict(
    block_out_channels=(32, 64),
    layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    cross_attention_dim=32,
    attention_head_dim=8,
    norm_num_groups=32,
)


def _sd_unet(in_channels: int = 4):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8,
        in_channels=in_channels,
        out_channels=4,
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        **_SD_BLOCKS,
    )


def build_tiny(directory: Path) -> None:
    """Write the SD1.5-shaped tiny family with every companion into ``directory``."""
    from diffusers import (
        AnimateDiffPipeline,
        ControlNetModel,
        MotionAdapter,
        T2IAdapter,
        UNetMotionModel,
    )
    from transformers import CLIPTextModel

    seeded(0)
    unet = _sd_unet()
    seeded(1)
    vae = _vae()
    seeded(2)
    text_encoder = CLIPTextModel(_text_config())
    base = assemble_sd_pipeline(directory, unet=unet, vae=vae, text_encoder=text_encoder)
    base.save_pretrained(str(directory / "base"), safe_serialization=True)
    save_random_lora(directory / "lcm-lora", unet=unet, seed=10)

    seeded(3)
    _sd_unet(in_channels=9).save_pretrained(
        str(directory / "inpaint" / "unet"), safe_serialization=True
    )

    seeded(4)
    controlnet = ControlNetModel(
        in_channels=4, conditioning_embedding_out_channels=(16, 32, 96, 256), **_SD_BLOCKS
    )
    _wake_zero_layers(controlnet, r"controlnet_(down_blocks|mid_block)|conv_out", std=0.2)
    controlnet.save_pretrained(str(directory / "controlnet-canny"), safe_serialization=True)

    seeded(5)
    adapter = T2IAdapter(
        in_channels=1,
        channels=[32, 64],
        num_res_blocks=2,
        downscale_factor=8,
        adapter_type="full_adapter",
    )
    adapter.save_pretrained(str(directory / "t2i-adapter-canny"), safe_serialization=True)

    seeded(6)
    motion = MotionAdapter(
        block_out_channels=(32, 64),
        motion_layers_per_block=2,
        motion_norm_num_groups=32,
        motion_num_attention_heads=4,
        motion_max_seq_length=32,
    )
    _wake_zero_layers(motion, r"proj_out", std=0.05)
    motion.save_pretrained(str(directory / "motion-adapter"), safe_serialization=True)

    # A motion LoRA touches only the motion modules of the UNet that AnimateDiff builds.
    motion_unet = UNetMotionModel.from_unet2d(unet, motion)
    unet_state = _lora_state(
        motion_unet, ["to_q", "to_k", "to_v", "to_out.0"], seed=11, exclude=None, rank=_LORA_RANK
    )
    unet_state = {k: v for k, v in unet_state.items() if "motion_modules" in k}
    AnimateDiffPipeline.save_lora_weights(
        str(directory / "motion-lora-zoom-in"), unet_lora_layers=unet_state
    )
    _safety_checker(directory / "safety-checker")
    _taesd(directory / "taesd", seed=7)


# --------------------------------------------------------------------------- tiny-xl (SDXL-shaped)

_XL_BLOCKS = dict(
    block_out_channels=(32, 64, 64),
    layers_per_block=2,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    attention_head_dim=(2, 4, 4),
    use_linear_projection=True,
    addition_embed_type="text_time",
    addition_time_embed_dim=8,
    projection_class_embeddings_input_dim=80,  # 6 time ids × 8 + the 32-wide pooled text embedding
    cross_attention_dim=64,  # two 32-wide text encoders, concatenated
    norm_num_groups=32,
)


def build_tiny_xl(directory: Path) -> None:
    """Write the SDXL-shaped tiny family (two text encoders, time ids) to ``directory``."""
    from diffusers import (
        ControlNetModel,
        T2IAdapter,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    seeded(20)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        **_XL_BLOCKS,
    )
    seeded(21)
    vae = _vae()
    seeded(22)
    text_encoder = CLIPTextModel(_text_config())
    seeded(23)
    text_encoder_2 = CLIPTextModelWithProjection(_text_config())
    base = assemble_sdxl_pipeline(
        directory, unet=unet, vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2
    )
    base.save_pretrained(str(directory / "base"), safe_serialization=True)
    save_random_lora(directory / "lcm-lora", unet=unet, seed=30)

    seeded(24)
    controlnet = ControlNetModel(
        in_channels=4, conditioning_embedding_out_channels=(16, 32, 96, 256), **_XL_BLOCKS
    )
    _wake_zero_layers(controlnet, r"controlnet_(down_blocks|mid_block)|conv_out", std=0.2)
    controlnet.save_pretrained(str(directory / "controlnet-canny"), safe_serialization=True)

    seeded(25)
    adapter = T2IAdapter(
        in_channels=1,
        channels=[32, 64, 64],
        num_res_blocks=2,
        downscale_factor=16,
        adapter_type="full_adapter_xl",
    )
    adapter.save_pretrained(str(directory / "t2i-adapter-canny"), safe_serialization=True)
    _safety_checker(directory / "safety-checker")
    _taesd(directory / "taesd", seed=27)


_BUILDERS: dict[str, Callable[[Path], None]] = {"tiny": build_tiny, "tiny-xl": build_tiny_xl}
