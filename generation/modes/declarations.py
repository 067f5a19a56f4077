"""One declaration per mode: pipeline classes, inputs, size rule, recipes and batch fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Mode(StrEnum):
    """What one request asks the pipelines to do."""

    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"
    CONTROLNET = "controlnet"
    T2I_ADAPTER = "t2i-adapter"
    ANIMATE = "animate"
    UPSCALE = "upscale"
    OUTPAINT = "outpaint"

    @property
    def spec(self) -> ModeSpec:
        return MODES[self]

    @property
    def needs_image(self) -> bool:
        return "image" in self.spec.inputs


@dataclass(frozen=True)
class Recipe:
    """The guide's settings for one mode: what a job uses where the user chose nothing.

    ``lcm_lora_weight`` and ``motion_weight`` are adapter weights, not request options: the
    AnimateDiff recipe runs the LCM-LoRA at 0.55 and the motion LoRA at 1.2.
    """

    steps: int = 4
    guidance: float = 1.0
    strength: float | None = None
    conditioning_scale: float | None = None
    frames: int | None = None
    lcm_lora_weight: float = 1.0
    motion_weight: float = 1.0

    def values(self) -> dict[str, Any]:
        """The request options this recipe sets (adapter weights are the pipelines' business)."""
        picked = dict(steps=self.steps, guidance=self.guidance)
        for name in ("strength", "conditioning_scale", "frames"):
            if getattr(self, name) is not None:
                picked[name] = getattr(self, name)
        return picked


# Fields every mode's jobs carry; a mode adds its own (``ModeSpec.fields``).
COMMON_BATCH_FIELDS = ("mode", "width", "height", "steps", "guidance", "styles", "quality")


@dataclass(frozen=True)
class ModeSpec:
    """Everything the validator, the pipelines, the engine and the bot need to know of a mode."""

    mode: Mode
    # diffusers pipeline class name per family architecture ("sd", "sdxl").
    pipelines: Mapping[str, str]
    # What a job must bring besides a prompt: "image", "mask".
    inputs: frozenset[str]
    # Request fields that only this mode reads: they split batches and go into the journal.
    fields: tuple[str, ...]
    # The ModelFamily attribute naming the companion model this mode needs, if any.
    companion: str | None
    lora_recipe: Recipe  # with a base model plus the LCM-LoRA
    full_lcm_recipe: Recipe  # with a fully distilled LCM checkpoint (guidance embedding)
    # Request fields handed to the pipeline call, by the pipeline's keyword for them.
    call_arguments: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # The companion's diffusers model class and the keyword ``from_pipe`` takes it by.
    companion_class: str | None = None
    companion_argument: str | None = None
    # A ModelFamily attribute naming a repo whose `unet/` replaces the base UNet for this mode.
    own_unet: str | None = None
    # Modes conditioned on the canny edges of the upload: the colour mode the model reads them in.
    control_channels: str | None = None
    video: bool = False  # frames out (an animation), not still images
    # Each side of the working size is a multiple of this, per architecture (8 where absent).
    size_multiples: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    # Fields of ``fields`` that differ per job inside one batch (the edge thresholds make each
    # job's own control image; fps only matters when the GIF is written).
    per_job_fields: tuple[str, ...] = ()
    # The section of the diffusers LCM guide each recipe comes from, shown in the README table.
    guide: str = ""
    # A mode that runs another mode's pipeline (it builds no copy of its own).
    pipeline_of: Mode | None = None
    # The output's size follows the picture (upscale ×2/×4, zoom out, pan): no size or aspect.
    grows_picture: bool = False
    # A mode with steps of its own around the pipeline: the generation module that runs a batch
    # of it (its ``run(pipelines, requests, on_step)``).
    runner: str | None = None

    def recipe(self, family) -> Recipe:
        return self.full_lcm_recipe if family.is_full_lcm else self.lora_recipe

    def size_multiple(self, architecture: str) -> int:
        """The VAE needs 8; the SDXL T2I-Adapter downsamples by 16 and needs both sides so."""
        return self.size_multiples.get(architecture, 8)

    def batch_fields(self) -> tuple[str, ...]:
        """Fields that must be equal for jobs to share one pipeline call."""
        own = tuple(name for name in self.fields if name not in self.per_job_fields)
        return (*COMMON_BATCH_FIELDS, *own)


def _spec(mode: Mode, sd: str, sdxl: str | None, **rest) -> ModeSpec:
    pipelines = {"sd": sd} if sdxl is None else {"sd": sd, "sdxl": sdxl}
    return ModeSpec(mode=mode, pipelines=MappingProxyType(pipelines), **rest)


# Each job's own control image: its thresholds, and whether the edge map is inverted.
_CANNY_THRESHOLDS = ("canny_low", "canny_high", "canny_invert")
_CANNY_FIELDS = (*_CANNY_THRESHOLDS, "conditioning_scale")

MODES: Mapping[Mode, ModeSpec] = MappingProxyType(
    {
        Mode.TXT2IMG: _spec(
            Mode.TXT2IMG,
            "StableDiffusionPipeline",
            "StableDiffusionXLPipeline",
            inputs=frozenset(),
            fields=(),
            companion=None,
            lora_recipe=Recipe(steps=4, guidance=1.0),
            full_lcm_recipe=Recipe(steps=4, guidance=8.0),
            guide="Text-to-image",
        ),
        Mode.IMG2IMG: _spec(
            Mode.IMG2IMG,
            "StableDiffusionImg2ImgPipeline",
            "StableDiffusionXLImg2ImgPipeline",
            inputs=frozenset({"image"}),
            fields=("strength",),
            companion=None,
            call_arguments=MappingProxyType({"strength": "strength"}),
            lora_recipe=Recipe(steps=4, guidance=1.0, strength=0.6),
            full_lcm_recipe=Recipe(steps=4, guidance=7.5, strength=0.5),
            guide="Image-to-image",
        ),
        Mode.INPAINT: _spec(
            Mode.INPAINT,
            "StableDiffusionInpaintPipeline",
            "StableDiffusionXLInpaintPipeline",
            inputs=frozenset({"image", "mask"}),
            fields=("strength",),
            companion=None,
            call_arguments=MappingProxyType({"strength": "strength"}),
            own_unet="inpaint_unet",
            # The guide: 4 steps at guidance 4 and the pipeline's full strength, so all 4 run.
            lora_recipe=Recipe(steps=4, guidance=4.0, strength=1.0),
            full_lcm_recipe=Recipe(steps=4, guidance=8.0, strength=1.0),
            guide="Inpainting",
        ),
        Mode.CONTROLNET: _spec(
            Mode.CONTROLNET,
            "StableDiffusionControlNetPipeline",
            "StableDiffusionXLControlNetPipeline",
            inputs=frozenset({"image"}),
            fields=_CANNY_FIELDS,
            per_job_fields=_CANNY_THRESHOLDS,
            companion="controlnet_canny",
            companion_class="ControlNetModel",
            companion_argument="controlnet",
            control_channels="RGB",
            call_arguments=MappingProxyType(
                {"conditioning_scale": "controlnet_conditioning_scale"}
            ),
            lora_recipe=Recipe(steps=4, guidance=1.5, conditioning_scale=0.8),
            # The guide passes neither: the pipeline's own 7.5 and 1.0 apply.
            full_lcm_recipe=Recipe(steps=4, guidance=7.5, conditioning_scale=1.0),
            guide="ControlNet",
        ),
        Mode.T2I_ADAPTER: _spec(
            Mode.T2I_ADAPTER,
            "StableDiffusionAdapterPipeline",
            "StableDiffusionXLAdapterPipeline",
            inputs=frozenset({"image"}),
            fields=_CANNY_FIELDS,
            per_job_fields=_CANNY_THRESHOLDS,
            companion="t2i_adapter_canny",
            companion_class="T2IAdapter",
            companion_argument="adapter",
            control_channels="L",  # the real canny T2I-Adapters read one channel
            call_arguments=MappingProxyType({"conditioning_scale": "adapter_conditioning_scale"}),
            lora_recipe=Recipe(steps=4, guidance=1.5, conditioning_scale=0.8),
            full_lcm_recipe=Recipe(steps=4, guidance=5.0, conditioning_scale=0.8),
            size_multiples=MappingProxyType({"sdxl": 16}),
            guide="T2I-Adapter",
        ),
        Mode.ANIMATE: _spec(
            Mode.ANIMATE,
            "AnimateDiffPipeline",
            None,
            inputs=frozenset(),
            fields=("frames", "fps", "motion"),
            per_job_fields=("fps",),
            companion="motion_adapter",
            call_arguments=MappingProxyType({"frames": "num_frames"}),
            video=True,
            # The guide: 5 steps, guidance 1.25, adapters [lcm 0.55, motion 1.2]. 16 frames, not
            # its 24: the v1-5-2 motion adapter was trained on 16 and 24 costs 1.5× the GPU.
            lora_recipe=Recipe(
                steps=5, guidance=1.25, frames=16, lcm_lora_weight=0.55, motion_weight=1.2
            ),
            full_lcm_recipe=Recipe(steps=4, guidance=8.0, frames=16, motion_weight=1.2),
            guide="AnimateDiff",
        ),
        # The upscaler model ×2 or ×4; "creative" adds a tiled low-strength img2img pass over it.
        Mode.UPSCALE: _spec(
            Mode.UPSCALE,
            "StableDiffusionImg2ImgPipeline",
            "StableDiffusionXLImg2ImgPipeline",
            inputs=frozenset({"image"}),
            fields=("scale", "upscale_kind", "strength"),
            companion="upscaler",
            call_arguments=MappingProxyType({"strength": "strength"}),
            pipeline_of=Mode.IMG2IMG,
            runner="generation.modes.upscale",
            grows_picture=True,
            # 8 steps at 0.3 runs the last 2: detail on the upscaled picture, not a new one.
            lora_recipe=Recipe(steps=8, guidance=1.0, strength=0.3),
            full_lcm_recipe=Recipe(steps=8, guidance=7.5, strength=0.3),
            guide="Image-to-image",
        ),
        # Zoom out or pan: a larger canvas, the new area inpainted with the job's prompt.
        Mode.OUTPAINT: _spec(
            Mode.OUTPAINT,
            "StableDiffusionInpaintPipeline",
            "StableDiffusionXLInpaintPipeline",
            inputs=frozenset({"image"}),
            fields=("outpaint",),
            companion=None,
            own_unet="inpaint_unet",
            pipeline_of=Mode.INPAINT,
            runner="generation.modes.outpaint_run",
            grows_picture=True,
            lora_recipe=Recipe(steps=4, guidance=4.0, strength=1.0),
            full_lcm_recipe=Recipe(steps=4, guidance=8.0, strength=1.0),
            guide="Inpainting",
        ),
    }
)


# What a family can do is the modes' knowledge: a family only names its architecture and
# companions, and each mode's declaration says which of them it needs.
def supports(family, mode: Mode) -> bool:
    """Whether ``family`` (a ModelFamily) can run ``mode``: its architecture and companion."""
    spec = Mode(mode).spec
    if family.architecture not in spec.pipelines:
        return False
    return spec.companion is None or getattr(family, spec.companion) is not None


def supported_modes(family) -> tuple[Mode, ...]:
    """Every mode ``family`` can run, in declaration order."""
    return tuple(mode for mode in Mode if supports(family, mode))


def default_guidance(family) -> float:
    """Text-to-image guidance from the family's recipe (each mode has its own, see MODES)."""
    return Mode.TXT2IMG.spec.recipe(family).guidance
