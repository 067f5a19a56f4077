"""The model-family registry: each supported base by real hub id, its companions, and its limits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from generation.errors import ModelUnavailable


@dataclass(frozen=True)
class LoraSource:
    """A LoRA by hub id or local path; ``weight_name`` picks the file inside a repo or folder."""

    source: str
    weight_name: str | None = None


def _lcm_lora(repo: str) -> LoraSource:
    # Named explicitly: offline, diffusers cannot list a repo to find the file itself.
    return LoraSource(repo, "pytorch_lora_weights.safetensors")


def _motion_loras(*names: str) -> Mapping[str, LoraSource]:
    return MappingProxyType(
        {
            name: LoraSource(
                f"guoyww/animatediff-motion-lora-{name}", "diffusion_pytorch_model.safetensors"
            )
            for name in names
        }
    )


# Real-ESRGAN's x2plus and x4plus generators as safetensors (converted from the official .pth).
REAL_ESRGAN = "Comfy-Org/Real-ESRGAN_repackaged"
REAL_ESRGAN_FILES: Mapping[int, str] = MappingProxyType(
    {2: "RealESRGAN_x2plus.safetensors", 4: "RealESRGAN_x4plus.safetensors"}
)


@dataclass(frozen=True)
class ModelFamily:
    """One base model with its companions; every source is a hub id or a local folder."""

    name: str
    architecture: str  # "sd" (SD1.5-shaped) or "sdxl" (two text encoders, added conditioning)
    description: str
    base: str
    # None means the base UNet is already LCM-distilled (a full LCM checkpoint).
    lcm_lora: LoraSource | None
    # A repo whose root holds a fully distilled LCM UNet that replaces the base's (lcm-sdxl).
    unet: str | None = None
    inpaint_unet: str | None = None  # a repo whose `unet/` folder is a 9-channel inpainting UNet
    controlnet_canny: str | None = None
    t2i_adapter_canny: str | None = None
    motion_adapter: str | None = None
    motion_loras: Mapping[str, LoraSource] = field(default_factory=lambda: MappingProxyType({}))
    safety_checker: str = "CompVis/stable-diffusion-safety-checker"
    taesd: str | None = None  # a tiny VAE decoder for the "fast" quality tier and previews
    # The ESRGAN-family upscaler (a repo or folder of safetensors files) and its file per factor;
    # it works on pixels, so one serves every architecture.
    upscaler: str | None = REAL_ESRGAN
    upscaler_files: Mapping[int, str] = field(default_factory=lambda: REAL_ESRGAN_FILES)
    # Sources the hub publishes in pickle format only: read once, tensors only, into a safetensors
    # mirror, never unpickled freely (generation/models/safetensors_mirror.py).
    pickle_only: frozenset[str] = frozenset()
    # Sources whose safetensors exist only as a variant (e.g. "fp16"): loaded as that variant
    # and cast to the running dtype.
    variants: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    default_size: int = 512
    min_side: int = 256
    max_side: int = 1024
    max_guidance: float = 8.0

    @property
    def is_full_lcm(self) -> bool:
        return self.lcm_lora is None

    def with_overrides(self, overrides: Mapping[str, str]) -> ModelFamily:
        """Point components at local folders, e.g. ``{"base": "/models/sd15"}``."""
        unknown = sorted(set(overrides) - set(OVERRIDABLE))
        if unknown:
            raise ModelUnavailable(
                f"cannot override {', '.join(unknown)}; components: {', '.join(OVERRIDABLE)}"
            )
        changes: dict[str, object] = {}
        for key, value in overrides.items():
            changes[key] = LoraSource(value) if key == "lcm_lora" else value
        return replace(self, **changes)


OVERRIDABLE = (
    "base",
    "unet",
    "lcm_lora",
    "inpaint_unet",
    "controlnet_canny",
    "t2i_adapter_canny",
    "motion_adapter",
    "safety_checker",
    "taesd",
    "upscaler",
)

# Its UNet is published as safetensors only in the fp16 variant (the fp32 one is a pickle file).
_SD15_INPAINT = "stable-diffusion-v1-5/stable-diffusion-inpainting"
# Published as a pickle-format file only (no safetensors): see ModelFamily.pickle_only.
_SD15_T2I_CANNY = "TencentARC/t2iadapter_canny_sd15v2"

_SD15_MOTION = _motion_loras(
    "zoom-in",
    "zoom-out",
    "pan-left",
    "pan-right",
    "tilt-up",
    "tilt-down",
    "rolling-clockwise",
    "rolling-anticlockwise",
)

HUB_FAMILIES: Mapping[str, ModelFamily] = MappingProxyType(
    {
        "sd15": ModelFamily(
            name="sd15",
            architecture="sd",
            description="Stable Diffusion 1.5 with the LCM-LoRA (512², every mode)",
            base="stable-diffusion-v1-5/stable-diffusion-v1-5",
            lcm_lora=_lcm_lora("latent-consistency/lcm-lora-sdv1-5"),
            inpaint_unet=_SD15_INPAINT,
            controlnet_canny="lllyasviel/control_v11p_sd15_canny",
            t2i_adapter_canny=_SD15_T2I_CANNY,
            motion_adapter="guoyww/animatediff-motion-adapter-v1-5-2",
            motion_loras=_SD15_MOTION,
            taesd="madebyollin/taesd",
            pickle_only=frozenset({_SD15_T2I_CANNY}),
            variants=MappingProxyType({_SD15_INPAINT: "fp16"}),
        ),
        "sdxl": ModelFamily(
            name="sdxl",
            architecture="sdxl",
            description="Stable Diffusion XL with the LCM-LoRA (1024²)",
            base="stabilityai/stable-diffusion-xl-base-1.0",
            lcm_lora=_lcm_lora("latent-consistency/lcm-lora-sdxl"),
            controlnet_canny="diffusers/controlnet-canny-sdxl-1.0",
            t2i_adapter_canny="TencentARC/t2i-adapter-canny-sdxl-1.0",
            taesd="madebyollin/taesdxl",
            default_size=1024,
            min_side=512,
            max_side=1536,
        ),
        # SSD-1B drops UNet blocks, so SDXL's ControlNet and T2I-Adapter residuals do not fit it.
        "ssd-1b": ModelFamily(
            name="ssd-1b",
            architecture="sdxl",
            description="Segmind SSD-1B (distilled SDXL) with its LCM-LoRA (1024²)",
            base="segmind/SSD-1B",
            lcm_lora=_lcm_lora("latent-consistency/lcm-lora-ssd-1b"),
            taesd="madebyollin/taesdxl",
            default_size=1024,
            min_side=512,
            max_side=1536,
        ),
        # A full LCM checkpoint: guidance feeds the w-embedding; no classifier-free guidance.
        "dreamshaper-lcm": ModelFamily(
            name="dreamshaper-lcm",
            architecture="sd",
            description="LCM Dreamshaper v7, a fully distilled LCM checkpoint (512²)",
            base="SimianLuo/LCM_Dreamshaper_v7",
            lcm_lora=None,
            controlnet_canny="lllyasviel/control_v11p_sd15_canny",
            t2i_adapter_canny=_SD15_T2I_CANNY,
            motion_adapter="guoyww/animatediff-motion-adapter-v1-5-2",
            motion_loras=_SD15_MOTION,
            taesd="madebyollin/taesd",
            pickle_only=frozenset({_SD15_T2I_CANNY}),
            max_guidance=15.0,
        ),
        # The guide's full-LCM SDXL: the distilled UNet on the SDXL base (guidance embedding).
        "lcm-sdxl": ModelFamily(
            name="lcm-sdxl",
            architecture="sdxl",
            description="LCM-SDXL, a fully distilled SDXL UNet on the SDXL base (1024²)",
            base="stabilityai/stable-diffusion-xl-base-1.0",
            unet="latent-consistency/lcm-sdxl",
            lcm_lora=None,
            controlnet_canny="diffusers/controlnet-canny-sdxl-1.0",
            t2i_adapter_canny="TencentARC/t2i-adapter-canny-sdxl-1.0",
            taesd="madebyollin/taesdxl",
            default_size=1024,
            min_side=512,
            max_side=1536,
            max_guidance=15.0,
        ),
        "lcm-ssd-1b": ModelFamily(
            name="lcm-ssd-1b",
            architecture="sdxl",
            description="LCM-SSD-1B, a fully distilled SSD-1B UNet on the SSD-1B base (1024²)",
            base="segmind/SSD-1B",
            unet="latent-consistency/lcm-ssd-1b",
            lcm_lora=None,
            taesd="madebyollin/taesdxl",
            default_size=1024,
            min_side=512,
            max_side=1536,
            max_guidance=15.0,
        ),
    }
)

_TINY_LIMITS = dict(default_size=64, min_side=32, max_side=256)


def _tiny_family(name: str, root: Path) -> ModelFamily:
    if name == "tiny":
        return ModelFamily(
            name="tiny",
            architecture="sd",
            description="offline SD1.5-shaped random-weight family for tests and smoke runs",
            base=str(root / "base"),
            lcm_lora=LoraSource(str(root / "lcm-lora")),
            inpaint_unet=str(root / "inpaint"),
            controlnet_canny=str(root / "controlnet-canny"),
            t2i_adapter_canny=str(root / "t2i-adapter-canny"),
            motion_adapter=str(root / "motion-adapter"),
            motion_loras=MappingProxyType(
                {"zoom-in": LoraSource(str(root / "motion-lora-zoom-in"))}
            ),
            safety_checker=str(root / "safety-checker"),
            taesd=str(root / "taesd"),
            **_TINY_LIMITS,
        )
    return ModelFamily(
        name="tiny-xl",
        architecture="sdxl",
        description="offline SDXL-shaped random-weight family for tests and smoke runs",
        base=str(root / "base"),
        lcm_lora=LoraSource(str(root / "lcm-lora")),
        controlnet_canny=str(root / "controlnet-canny"),
        t2i_adapter_canny=str(root / "t2i-adapter-canny"),
        safety_checker=str(root / "safety-checker"),
        taesd=str(root / "taesd"),
        **_TINY_LIMITS,
    )


TINY_FAMILIES = ("tiny", "tiny-xl")


def family_names() -> tuple[str, ...]:
    return (*HUB_FAMILIES, *TINY_FAMILIES)


def resolve_family(name: str, overrides: Mapping[str, str] | None = None) -> ModelFamily:
    """Look up family ``name``; tiny families are built on first use and read from disk."""
    if name in HUB_FAMILIES:
        family = HUB_FAMILIES[name]
    elif name in TINY_FAMILIES:
        # `tiny` is an LCM_MODEL value (offline smoke runs): built from the test families' room,
        # imported lazily (torch loads only when needed); pyproject's import-linter contract
        # lists these two imports as exceptions.
        from generation.models.testing.tiny_models import ensure_tiny_family
        from generation.models.testing.tiny_upscaler import ensure_tiny_upscaler

        family = _tiny_family(name, ensure_tiny_family(name))
        # Built apart from the family, so adding it did not rebuild every tiny family.
        family = replace(family, upscaler=str(ensure_tiny_upscaler()))
    else:
        raise ModelUnavailable(
            f"unknown model family {name!r}; choose one of {', '.join(family_names())}"
        )
    return family.with_overrides(overrides) if overrides else family
