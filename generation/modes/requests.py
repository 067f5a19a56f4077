"""What one generation request asks for, its validation against a family, and what comes back."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from generation.errors import InvalidInput
from generation.models.families import ModelFamily
from generation.models.styles import StyleChoice, StyleLibrary
from generation.modes import Mode, Recipe, supported_modes, supports

if TYPE_CHECKING:
    from PIL.Image import Image

MIN_STEPS, MAX_STEPS = 1, 8
MAX_COUNT = 8
MIN_FRAMES, MAX_FRAMES = 8, 24
MIN_FPS, MAX_FPS = 1, 30
MAX_SEED = 2**32 - 1
MAX_PROMPT_CHARS = 2000
MAX_STYLES = 3
MAX_CONDITIONING_SCALE = 2.0
QUALITIES = ("full", "fast")


@dataclass(frozen=True)
class GenerationRequest:
    """One user's request; plain values only, so it crosses threads and processes unchanged."""

    mode: Mode
    prompt: str
    negative_prompt: str = ""
    width: int | None = None  # None: the aspect's size, else the upload's (image modes) or default
    height: int | None = None
    # One of generation.images.sizing.ASPECTS: the family's native area in that shape. A width and
    # height given too win over it; with an upload, the upload is centre-cropped to it.
    aspect: str | None = None
    # None in steps, guidance, strength, conditioning_scale and frames: the mode's recipe for
    # the family (generation/modes/declarations.py), filled in by validate_request.
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None  # None: a random seed, chosen once and reported
    count: int = 1
    strength: float | None = None
    image: Image | None = None
    mask: Image | None = None
    canny_low: int = 100
    canny_high: int = 200
    canny_invert: bool = False  # black edges on white (the canny loop's Invert edges)
    conditioning_scale: float | None = None
    styles: tuple[StyleChoice, ...] = ()
    frames: int | None = None
    fps: int = 8
    motion: str | None = None
    safety_check: bool = False
    quality: str = "full"  # "fast" decodes with TAESD: a little softer, much cheaper
    scale: int | None = None  # upscale: 2 or 4
    upscale_kind: str = "subtle"  # upscale: "subtle" (the upscaler alone) or "creative"
    outpaint: str | None = None  # outpaint: one of generation.images.outpaint_geometry.OUTPAINTS

    def image_seeds(self) -> tuple[int, ...]:
        """Each image's seed: consecutive from the request's, so each can be re-rolled alone."""
        assert self.seed is not None, "validate() resolves the seed"
        return tuple((self.seed + i) % (MAX_SEED + 1) for i in range(self.count))

    def batch_key(self) -> tuple:
        """Requests with equal keys can run in one pipeline call (the mode declares which)."""
        fields = Mode(self.mode).spec.batch_fields()
        return (*(getattr(self, name) for name in fields), bool(self.negative_prompt))

    @property
    def denoising_steps(self) -> int:
        """Steps the scheduler really runs: img2img and inpaint skip the first (1 - strength)."""
        if "strength" in Mode(self.mode).spec.fields:
            return int(self.steps * self.strength)
        return self.steps


def gpu_cost(request: GenerationRequest, family: ModelFamily) -> int:
    """What a validated request costs the GPU, in UNet pixel-steps: the fair queue's charge.

    images × pixels × frames × denoising steps, doubled under classifier-free guidance (two UNet
    passes a step), which runs with an LCM-LoRA at guidance above 1; a full LCM checkpoint takes
    guidance as an embedding instead and never runs it.
    """
    frames = request.frames if Mode(request.mode).spec.video else 1
    guided = not family.is_full_lcm and request.guidance > 1
    pixel_steps = request.count * request.width * request.height * frames * request.denoising_steps
    return pixel_steps * (2 if guided else 1)


@dataclass(frozen=True)
class GenerationResult:
    """What one request produced."""

    request: GenerationRequest
    seeds: tuple[int, ...]
    images: tuple[Image, ...] = ()  # one per seed; empty for animations
    animations: tuple[tuple[Image, ...], ...] = ()  # frames, one sequence per seed
    control_image: Image | None = None  # the edge map a canny mode used
    nsfw: tuple[bool, ...] | None = None  # per image/animation when a safety check ran
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    parameters: dict = field(default_factory=dict)
    redecoded: bool = False  # some output was NaN/black and was decoded again in float32


def _check_range(parameter: str, value: float, low: float, high: float, unit: str = "") -> None:
    if not low <= value <= high:
        raise InvalidInput(parameter, f"{value}{unit} is out of range", f"{low}–{high}{unit}")


def validate_request(
    request: GenerationRequest, family: ModelFamily, styles: StyleLibrary | None = None
) -> GenerationRequest:
    """Check every parameter against ``family`` and return the request with defaults resolved.

    Runs before a request is queued, so no shape error or impossible schedule reaches the GPU.
    Image modes get their working size from the upload and their image (and mask) resized to it.
    """
    from generation.images.masks import prepare_mask
    from generation.images.sizing import check_size, resize_to

    mode = Mode(request.mode)
    if not supports(family, mode):
        raise InvalidInput(
            "mode",
            f"{mode} is not available for the {family.name} family",
            ", ".join(supported_modes(family)),
        )
    recipe = mode.spec.recipe(family)
    request = _with_recipe(request, recipe)
    prompt = request.prompt.strip()
    if not prompt:
        raise InvalidInput("prompt", "is empty", "1–2000 characters")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidInput("prompt", f"has {len(prompt)} characters", "1–2000 characters")
    _check_range("steps", request.steps, MIN_STEPS, MAX_STEPS)
    _check_range("count", request.count, 1, MAX_COUNT)
    guidance = float(request.guidance)
    _check_range("guidance", guidance, 0.0, family.max_guidance)
    seed = secrets.randbelow(MAX_SEED + 1) if request.seed is None else int(request.seed)
    _check_range("seed", seed, 0, MAX_SEED)

    # A subtle upscale is the upscaler alone: it denoises nothing, so its steps and strength
    # (the creative pass's) have nothing to refuse.
    denoises = not (mode is Mode.UPSCALE and request.upscale_kind == "subtle")
    if "strength" in mode.spec.fields and denoises:
        _check_range("strength", request.strength, 0.01, 1.0)
        if int(request.steps * request.strength) < 1:
            raise InvalidInput(
                "strength",
                f"steps × strength = {request.steps} × {request.strength} runs no denoising step",
                f"steps × strength ≥ 1, so strength ≥ {1 / request.steps:.2f}"
                f" at {request.steps} steps",
            )
    if "conditioning_scale" in mode.spec.fields:
        _check_range("conditioning_scale", request.conditioning_scale, 0.0, MAX_CONDITIONING_SCALE)
        _check_range("low_threshold", request.canny_low, 0, 255)
        _check_range("high_threshold", request.canny_high, 0, 255)
        if request.canny_low > request.canny_high:
            raise InvalidInput(
                "low_threshold",
                f"{request.canny_low} is above high_threshold {request.canny_high}",
                "0 ≤ low_threshold ≤ high_threshold ≤ 255",
            )
    if mode.spec.video:
        _check_range("frames", request.frames, MIN_FRAMES, MAX_FRAMES)
        _check_range("fps", request.fps, MIN_FPS, MAX_FPS)
        if request.motion is not None and request.motion not in family.motion_loras:
            raise InvalidInput(
                "motion",
                f"unknown motion {request.motion!r}",
                ", ".join(family.motion_loras) or "none for this family",
            )

    if request.quality not in QUALITIES:
        raise InvalidInput("quality", f"{request.quality!r} is unknown", ", ".join(QUALITIES))
    if request.quality == "fast" and family.taesd is None:
        raise InvalidInput("quality", f"{family.name} has no fast decoder", "full")
    chosen = _validate_styles(request.styles, family, styles)
    multiple = mode.spec.size_multiple(family.architecture)
    if mode in (Mode.UPSCALE, Mode.OUTPAINT):
        # The picture grows: these modes size the output from the picture (their own rules).
        from generation.modes.outpaint_rules import validate_outpaint
        from generation.modes.upscale_rules import validate_upscale

        check = validate_upscale if mode is Mode.UPSCALE else validate_outpaint
        request = check(request, family, multiple)
        return replace(
            request, mode=mode, prompt=prompt, guidance=guidance, seed=seed, styles=chosen
        )
    width, height = _working_size(request, family, mode, multiple)
    check_size(width, height, min_side=family.min_side, max_side=family.max_side, multiple=multiple)

    image, mask = request.image, request.mask
    if mode.needs_image:
        if image is None:
            raise InvalidInput("image", f"{mode} needs an input image", "a PNG, JPEG, WebP or GIF")
        image = resize_to(image.convert("RGB"), (width, height))
    if "mask" in mode.spec.inputs:
        if mask is None:
            raise InvalidInput("mask", "inpaint needs a mask", "white = repaint, black = keep")
        mask = prepare_mask(mask, request.image.size)
        mask = resize_to(mask, (width, height)).point(lambda v: 255 if v >= 128 else 0)
    return replace(
        request,
        mode=mode,
        prompt=prompt,
        width=width,
        height=height,
        guidance=guidance,
        seed=seed,
        image=image,
        mask=mask,
        styles=chosen,
    )


def _validate_styles(
    picked: tuple[StyleChoice, ...], family: ModelFamily, styles: StyleLibrary | None
) -> tuple[StyleChoice, ...]:
    if not picked:
        return ()
    if len(picked) > MAX_STYLES:
        raise InvalidInput("style", f"{len(picked)} styles picked", f"at most {MAX_STYLES}")
    library = styles or StyleLibrary()
    chosen = []
    for choice in picked:
        valid = library.choose(choice.name, choice.weight)
        if library.get(choice.name).architecture != family.architecture:
            usable = ", ".join(s.name for s in library.for_architecture(family.architecture))
            raise InvalidInput(
                "style",
                f"{choice.name!r} is made for another model family than {family.name}",
                usable or "none for this family",
            )
        chosen.append(valid)
    names = [c.name for c in chosen]
    if len(set(names)) != len(names):
        raise InvalidInput("style", "the same style is picked twice", "each style once")
    # A canonical order makes "same adapter set" a plain equality for batching.
    return tuple(sorted(chosen, key=lambda c: c.name))


def _with_recipe(request: GenerationRequest, recipe: Recipe) -> GenerationRequest:
    """Fill every option the user left out from the mode's recipe for this family."""
    missing = {
        name: value for name, value in recipe.values().items() if getattr(request, name) is None
    }
    return replace(request, **missing) if missing else request


def _working_size(request, family, mode, multiple: int) -> tuple[int, int]:
    """The size the pipeline runs at: given, the aspect's, the upload's (fitted), or the default.

    Every side is a multiple of the mode's size rule, so an upload of any shape produces an image.
    """
    from generation.images.sizing import aspect_size, fit_size

    if request.width is not None and request.height is not None:
        return int(request.width), int(request.height)
    if request.width is not None or request.height is not None:
        raise InvalidInput("size", "give both width and height", "WIDTHxHEIGHT, e.g. 512x512")
    if request.aspect is not None:
        return aspect_size(
            request.aspect,
            native_side=family.default_size,
            min_side=family.min_side,
            max_side=family.max_side,
            multiple=multiple,
        )
    if mode.needs_image and request.image is not None:
        return fit_size(
            *request.image.size,
            min_side=family.min_side,
            max_side=family.default_size,
            multiple=multiple,
        )
    side = family.default_size // multiple * multiple
    return side, side
