"""PipelineSet: one family's LCM pipelines over shared weights, running batches of requests."""

from __future__ import annotations

import importlib
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import diffusers
import torch
from diffusers import (
    AnimateDiffPipeline,
    LCMScheduler,
    MotionAdapter,
    UNet2DConditionModel,
    UNetMotionModel,
)

from generation.errors import GenerationCancelled, InvalidInput, ModelUnavailable
from generation.images.canny import canny_edges
from generation.models.families import LoraSource, ModelFamily
from generation.models.load_errors import load_failure
from generation.models.styles import Style, StyleLibrary, style_adapter_name
from generation.modes import MODES, Mode, default_guidance, supported_modes, supports
from generation.modes.decoding import DecodedBatch, decode_batch
from generation.modes.requests import GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

# Return False to cancel the running batch.
StepCallback = Callable[[int, int], bool | None]
LCM_ADAPTER = "lcm"


def _unavailable(what: str, source: str, exc: BaseException) -> ModelUnavailable:
    """One line with the real cause; the library's chained traceback goes to DEBUG only."""
    log.debug("loading %s from %s failed", what, source, exc_info=exc)
    return ModelUnavailable(f"cannot load {what}: {load_failure(source, exc)}")


class PipelineSet:
    """Loads a family once and builds every mode's pipeline over the same modules.

    Mode pipelines are made on first use with ``from_pipe``, so text encoders, VAE and (where the
    mode allows) the UNet are shared, not copied. The inpainting UNet and AnimateDiff's motion UNet
    are the two extra UNets a family may need; each gets the LCM-LoRA and the styles loaded too.
    Not thread-safe: one worker thread owns a PipelineSet.
    """

    def __init__(
        self,
        family: ModelFamily,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        styles: StyleLibrary | None = None,
        compile_mode: str | None = None,
        compile_backend: str = "inductor",
        fuse_lcm_lora: bool | None = None,
    ) -> None:
        """``compile_mode`` (e.g. "max-autotune") compiles the UNets with torch.compile; batches are
        then padded to a few fixed sizes (``BATCH_BUCKETS``) so each size compiles once."""
        self.family = family
        # The LCM-LoRA is always on at weight 1, so merging it into the UNet weights is exact and
        # saves its ~19 % extra UNet time. Default: on GPUs, where that time matters.
        if fuse_lcm_lora is None:
            fuse_lcm_lora = torch.device(device).type == "cuda"
        self.fuse_lcm_lora = fuse_lcm_lora and family.lcm_lora is not None
        self.compile_mode = compile_mode
        self.compile_backend = compile_backend
        self.device = torch.device(device)
        self.dtype = dtype
        # Each mode's pipeline class for this architecture, as its declaration names it.
        self._classes = {
            mode: getattr(diffusers, spec.pipelines[family.architecture])
            for mode, spec in MODES.items()
            if family.architecture in spec.pipelines
        }
        self.styles = styles or StyleLibrary()
        self._styles = self.styles.for_architecture(family.architecture)
        self.unavailable_styles: dict[str, str] = {}
        self._pipes: dict[Mode, Any] = {}
        self._safety = None
        self._taesd = None
        self._cache: dict[Any, Any] = {}
        started = time.perf_counter()
        self._base = self._load_base()
        self._pipes[Mode.TXT2IMG] = self._base
        if compile_mode:
            self.compile()
        log.info(
            "loaded family %s on %s (%s) in %.1f s",
            family.name,
            self.device,
            dtype,
            time.perf_counter() - started,
        )

    # ------------------------------------------------------------------ loading

    def _load_base(self):
        extra = {}
        if self.family.architecture == "sd":
            extra = dict(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        if self.family.unet is not None:
            # A fully distilled LCM UNet in its own repo, on the base's other components.
            extra["unet"] = self._load_model(UNet2DConditionModel, self.family.unet)
        try:
            pipe = self._classes[Mode.TXT2IMG].from_pretrained(
                self.family.base, dtype=self.dtype, use_safetensors=True, **extra
            )
        except (OSError, ValueError) as exc:
            base = self.family.base
            raise _unavailable(f"the {self.family.name} base model", base, exc) from exc
        self._prepare(pipe)
        pipe.to(self.device)
        if self.family.lcm_lora is not None:
            try:
                self._load_pipe_lora(pipe, self.family.lcm_lora, LCM_ADAPTER)
            except (OSError, ValueError) as exc:
                source = self.family.lcm_lora.source
                raise _unavailable(f"the {self.family.name} LCM-LoRA", source, exc) from exc
            if self.fuse_lcm_lora:
                # Fuse before the styles load: unloading drops every adapter but keeps the merge.
                pipe.fuse_lora(components=["unet"], adapter_names=[LCM_ADAPTER], lora_scale=1.0)
                pipe.unload_lora_weights()
        for style in self._styles:
            try:
                self._load_pipe_lora(
                    pipe, LoraSource(style.source, style.weight_name), style.adapter_name
                )
            except (OSError, ValueError, RuntimeError, KeyError) as exc:
                # One broken style must not take the bot down: report it and serve the rest.
                self.unavailable_styles[style.name] = str(exc).splitlines()[0]
                log.warning("style %s is unavailable: %s", style.name, exc)
        return pipe

    def _prepare(self, pipe) -> None:
        pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        if self.device.type == "cuda":
            # Convolutions on tensor cores want NHWC; attention already uses PyTorch's SDPA.
            pipe.unet.to(memory_format=torch.channels_last)
            pipe.vae.to(memory_format=torch.channels_last)

    def weight_bytes(self) -> dict[str, int]:
        """Bytes of weights held per component, for memory planning (`lcm-bot doctor`, budgets)."""
        held: dict[str, int] = {}
        seen: set[int] = set()
        for mode, pipe in self._pipes.items():
            for name, module in pipe.components.items():
                if isinstance(module, torch.nn.Module) and id(module) not in seen:
                    seen.add(id(module))
                    key = name if mode is Mode.TXT2IMG else f"{mode}:{name}"
                    held[key] = _module_bytes(module)
        for name, module in (("taesd", self._taesd), ("safety_checker", self._safety_model())):
            if module is not None:
                held[name] = _module_bytes(module)
        return held

    def _safety_model(self):
        return self._safety.model if self._safety is not None else None

    def _load_pipe_lora(self, pipe, lora: LoraSource, adapter_name: str) -> None:
        pipe.load_lora_weights(
            lora.source,
            weight_name=lora.weight_name,
            adapter_name=adapter_name,
            use_safetensors=True,
        )

    def _load_unet_lora(self, unet, lora: LoraSource, adapter_name: str) -> None:
        """Load only the UNet half of a LoRA into an extra UNet; text encoders are shared."""
        state, alphas = self._classes[Mode.TXT2IMG].lora_state_dict(
            lora.source, weight_name=lora.weight_name, use_safetensors=True
        )
        unet.load_lora_adapter(
            state, prefix="unet", network_alphas=alphas, adapter_name=adapter_name
        )

    def _load_shared_adapters(self, unet, mode: Mode) -> None:
        """The LCM-LoRA (fused at the mode's recipe weight on GPUs) and styles, on an extra UNet.

        Each extra UNet belongs to one mode, so it can hold its own fused copy: AnimateDiff's
        recipe runs the LCM-LoRA at 0.55 while the base UNet has it merged at 1.0.
        """
        if self.family.lcm_lora is not None:
            self._load_unet_lora(unet, self.family.lcm_lora, LCM_ADAPTER)
            if self.fuse_lcm_lora:
                weight = mode.spec.recipe(self.family).lcm_lora_weight
                unet.fuse_lora(adapter_names=[LCM_ADAPTER], lora_scale=weight)
                unet.unload_lora()
        for style in self._loaded_styles():
            self._load_unet_lora(
                unet, LoraSource(style.source, style.weight_name), style.adapter_name
            )

    def _loaded_styles(self) -> tuple[Style, ...]:
        return tuple(s for s in self._styles if s.name not in self.unavailable_styles)

    def cached(self, key, build: Callable[[], Any]) -> Any:
        """A model a mode's runner loads once per set (the upscaler), built on first use."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def pipeline(self, mode: Mode):
        """The pipeline for ``mode``, built on first use over the base's modules."""
        if mode.spec.pipeline_of is not None:
            if not supports(self.family, mode):
                raise InvalidInput(
                    "mode",
                    f"{mode} is not available for {self.family.name}",
                    ", ".join(supported_modes(self.family)),
                )
            return self.pipeline(mode.spec.pipeline_of)
        if mode not in self._pipes:
            if not supports(self.family, mode):
                raise InvalidInput(
                    "mode",
                    f"{mode} is not available for {self.family.name}",
                    ", ".join(supported_modes(self.family)),
                )
            started = time.perf_counter()
            self._pipes[mode] = self._build(mode)
            log.info("built %s pipeline in %.2f s", mode, time.perf_counter() - started)
        return self._pipes[mode]

    def _build(self, mode: Mode):
        """A mode's pipeline over the base's modules, with what its declaration asks for."""
        spec = mode.spec
        if spec.video:
            pipe = self._build_animate()
        else:
            extra = {}
            if spec.companion_class is not None:
                model_class = getattr(diffusers, spec.companion_class)
                source = getattr(self.family, spec.companion)
                extra[spec.companion_argument] = self._load_model(model_class, source)
            if spec.own_unet is not None and getattr(self.family, spec.own_unet) is not None:
                source = getattr(self.family, spec.own_unet)
                unet = self._load_model(UNet2DConditionModel, source, "unet")
                self._load_shared_adapters(unet, mode)
                extra["unet"] = unet
            pipe = self._classes[mode].from_pipe(self._base, **extra)
        self._prepare(pipe)
        if self.compile_mode:
            _compile_unet(pipe.unet, self.compile_mode, self.compile_backend)
        return pipe

    def _load_model(self, cls, source: str, subfolder: str | None = None):
        """Load one companion model in the set's dtype onto its device."""
        if source in self.family.pickle_only:
            from generation.models.safetensors_mirror import safetensors_mirror

            source = safetensors_mirror(source)
        try:
            model = cls.from_pretrained(
                source,
                subfolder=subfolder,
                dtype=self.dtype,
                use_safetensors=True,
                variant=self.family.variants.get(source),
            )
        except (OSError, ValueError) as exc:
            raise _unavailable(f"{cls.__name__} for {self.family.name}", source, exc) from exc
        return model.to(self.device)

    def _build_animate(self):
        # AnimateDiff turns the UNet into a UNetMotionModel copy. Converting the base UNet would
        # drag its LoRA layers along under names the motion model does not know, so the motion UNet
        # starts from the clean base weights on disk and gets its own adapters.
        motion_adapter = self._load_model(MotionAdapter, self.family.motion_adapter)
        if self.family.unet is not None:
            clean_unet = self._load_model(UNet2DConditionModel, self.family.unet)
        else:
            clean_unet = self._load_model(UNet2DConditionModel, self.family.base, "unet")
        unet = UNetMotionModel.from_unet2d(clean_unet, motion_adapter).to(self.device, self.dtype)
        del clean_unet  # from_unet2d copied its weights; do not hold a third UNet
        self._load_shared_adapters(unet, Mode.ANIMATE)
        for name, lora in self.family.motion_loras.items():
            self._load_unet_lora(unet, lora, _motion_adapter_name(name))
        if unet.config.time_cond_proj_dim is not None:
            GuidanceEmbedding.attach(unet, self._base)
        base = self._base
        return AnimateDiffPipeline(
            vae=base.vae,
            text_encoder=base.text_encoder,
            tokenizer=base.tokenizer,
            unet=unet,
            motion_adapter=motion_adapter,
            scheduler=LCMScheduler.from_config(base.scheduler.config),
        )

    # ------------------------------------------------------------------ running

    def run(
        self, requests: Sequence[GenerationRequest], on_step: StepCallback | None = None
    ) -> list[GenerationResult]:
        """Run validated, compatible ``requests`` in one pipeline call; one result per request.

        Every image has its own generator seeded from its request, so image i of a batch equals
        the single run with its seed. ``on_step(done, total)`` is called after each denoising
        step; returning False cancels the batch with :class:`GenerationCancelled`.
        """
        if not requests:
            return []
        key = requests[0].batch_key()
        if any(r.batch_key() != key for r in requests):
            raise ValueError("a batch must hold requests with equal batch_key()")
        mode = requests[0].mode
        if mode.spec.runner is not None:
            # Upscale and outpaint: steps of their own around another mode's pipeline.
            return importlib.import_module(mode.spec.runner).run(self, requests, on_step)
        pipe = self.pipeline(mode)
        self._activate_adapters(pipe, requests[0])
        started = time.perf_counter()
        kwargs, control_images = self._call_arguments(pipe, requests)
        padding = self._pad_to_bucket(kwargs) if self.compile_mode else 0
        kwargs.update(_progress_arguments(pipe, on_step, requests[0].denoising_steps))
        with torch.inference_mode():
            # The pipeline stops at latents; decoding here lets a NaN or black decode be retried
            # in float32 instead of being posted.
            output = pipe(**kwargs, output_type="latent")
            animate = mode.spec.video
            taesd = self.fast_decoder() if requests[0].quality == "fast" else None
            latents = output.frames if animate else output.images
            if padding:
                latents = latents[: len(latents) - padding]
            decoded = decode_batch(pipe, latents, video=animate, taesd=taesd)
        seconds = time.perf_counter() - started
        return self._split(decoded, requests, control_images, seconds)

    def _pad_to_bucket(self, kwargs: dict[str, Any]) -> int:
        """Repeat the last image's inputs up to the next bucket size; returns how many were added.

        A compiled UNet specialises on the batch size: a handful of sizes keeps recompiles (and
        warm-up) bounded. The padded images are dropped before decoding.
        """
        count = len(kwargs["prompt"])
        target = batch_bucket(count)
        extra = target - count
        if extra:
            for key in ("prompt", "negative_prompt", "image", "mask_image"):
                if isinstance(kwargs.get(key), list):
                    kwargs[key] = kwargs[key] + [kwargs[key][-1]] * extra
            last_seed = kwargs["generator"][-1].initial_seed()
            kwargs["generator"] = kwargs["generator"] + [
                torch.Generator(kwargs["generator"][-1].device).manual_seed(last_seed)
                for _ in range(extra)
            ]
        return extra

    def compile(self) -> None:
        """Compile every UNet built so far (and later ones as they are built)."""
        for pipe in self._pipes.values():
            _compile_unet(pipe.unet, self.compile_mode, self.compile_backend)

    def warm_up(self, *, sizes: Sequence[int] | None = None, buckets=None) -> float:
        """Run one tiny job per batch bucket and size, so the first user never pays a compile."""
        started = time.perf_counter()
        sizes = sizes or (self.family.default_size,)
        for size in sizes:
            for bucket in buckets or BATCH_BUCKETS:
                warm = GenerationRequest(
                    mode=Mode.TXT2IMG,
                    prompt="warm-up",
                    width=size,
                    height=size,
                    steps=1,
                    guidance=default_guidance(self.family),
                    seed=0,
                    count=bucket,
                )
                self.run([warm])
        return time.perf_counter() - started

    def _activate_adapters(self, pipe, request: GenerationRequest) -> None:
        """Switch the loaded adapters to this batch's set and weights (a few ms, no reload)."""
        names, weights = [], []
        recipe = request.mode.spec.recipe(self.family)
        if self.family.lcm_lora is not None and not self.fuse_lcm_lora:
            names.append(LCM_ADAPTER)
            weights.append(recipe.lcm_lora_weight)
        for choice in request.styles:
            if choice.name in self.unavailable_styles:
                raise ModelUnavailable(
                    f"style {choice.name!r} could not be loaded: "
                    + self.unavailable_styles[choice.name]
                )
            names.append(style_adapter_name(choice.name))
            weights.append(choice.weight)
        # The base pipeline owns the shared text encoders (and the shared UNet); not every mode's
        # pipeline class has the LoRA mixin (the T2I-Adapter ones do not), so switch through it.
        _switch_adapters(self._base, names, weights)
        if pipe.unet is not self._base.unet:
            if "motion" in request.mode.spec.fields and request.motion is not None:
                names = [*names, _motion_adapter_name(request.motion)]
                weights = [*weights, recipe.motion_weight]
            _switch_adapters(pipe.unet, names, weights)

    def _call_arguments(self, pipe, requests: Sequence[GenerationRequest]):
        first = requests[0]
        spec = first.mode.spec
        prompts, negatives, generators = [], [], []
        images, masks, controls = [], [], []
        control_images = []
        gen_device = "cpu" if self.device.type == "mps" else self.device
        for request in requests:
            control = None
            if spec.control_channels is not None:
                control = canny_edges(
                    request.image,
                    request.canny_low,
                    request.canny_high,
                    invert=request.canny_invert,
                )
            control_images.append(control)
            for seed in request.image_seeds():
                prompts.append(self.full_prompt(request))
                negatives.append(request.negative_prompt)
                generators.append(torch.Generator(device=gen_device).manual_seed(seed))
                images.append(request.image)
                masks.append(request.mask)
                if control is not None:
                    controls.append(control.convert(spec.control_channels))
        kwargs: dict[str, Any] = dict(
            prompt=prompts,
            negative_prompt=negatives if first.negative_prompt else None,
            num_inference_steps=first.steps,
            guidance_scale=first.guidance,
            generator=generators,
            height=first.height,
            width=first.width,
        )
        if "image" in spec.inputs:
            kwargs["image"] = controls if spec.control_channels is not None else images
        if "mask" in spec.inputs:
            kwargs["mask_image"] = masks
        for name, argument in spec.call_arguments.items():
            kwargs[argument] = getattr(first, name)
        embedding = GuidanceEmbedding.of(pipe.unet)
        if embedding is not None:
            # This pipeline would run classifier-free guidance for any guidance above 1; a full
            # LCM UNet takes guidance as an embedding instead, at one UNet pass per step.
            embedding.guidance = first.guidance
            kwargs["guidance_scale"] = 1.0
        return kwargs, control_images

    def _split(
        self, decoded: DecodedBatch, requests, control_images, seconds
    ) -> list[GenerationResult]:
        results, cursor = [], 0
        animate = requests[0].mode.spec.video
        pictures = decoded.pictures
        if "mask" in requests[0].mode.spec.inputs:
            pictures = _keep_unmasked(pictures, requests)
        nsfw_all = self._check_safety(requests, pictures)
        for request, control in zip(requests, control_images, strict=True):
            span = slice(cursor, cursor + request.count)
            taken = pictures[span]
            flags = None if nsfw_all is None else tuple(nsfw_all[span])
            cursor += request.count
            warnings = self.warnings_for(request)
            if any(decoded.still_bad[span]):
                warnings += ("the model produced an empty (NaN or black) image even in float32",)
            results.append(
                GenerationResult(
                    request=request,
                    seeds=request.image_seeds(),
                    images=() if animate else tuple(item[0] for item in taken),
                    animations=tuple(tuple(frames) for frames in taken) if animate else (),
                    control_image=control,
                    nsfw=flags if request.safety_check else None,
                    warnings=warnings,
                    redecoded=any(decoded.redecoded[span]),
                    seconds=seconds,
                    parameters=self.parameters_for(request),
                )
            )
        return results

    def memory_bytes(self) -> tuple[int, int] | None:
        """(allocated, peak) GPU bytes; None off CUDA."""
        from generation.models.devices import memory_bytes

        return memory_bytes(self.device)

    # ------------------------------------------------------------------ reporting

    def full_prompt(self, request: GenerationRequest) -> str:
        """The prompt with each picked style's trigger words in front."""
        triggers = []
        for choice in request.styles:
            for style in self._styles:
                if style.name == choice.name:
                    triggers.extend(style.trigger_words)
        return ", ".join([*triggers, request.prompt]) if triggers else request.prompt

    def dropped_prompt_text(self, prompt: str) -> str:
        """The part of ``prompt`` past CLIP's 77-token window, which the model never sees."""
        tokenizer = self._base.tokenizer
        ids = tokenizer(prompt, truncation=False, add_special_tokens=False).input_ids
        room = tokenizer.model_max_length - 2  # start and end tokens take two places
        return tokenizer.decode(ids[room:]).strip() if len(ids) > room else ""

    def warnings_for(self, request: GenerationRequest) -> tuple[str, ...]:
        warnings = []
        dropped = self.dropped_prompt_text(self.full_prompt(request))
        if dropped:
            warnings.append(
                f"prompt is longer than 77 CLIP tokens; this part was ignored: {dropped!r}"
            )
        if request.negative_prompt:
            if self.family.is_full_lcm:
                warnings.append("negative prompt ignored: a full LCM model uses no negative prompt")
            elif request.guidance <= 1.0:
                warnings.append("negative prompt ignored: it needs guidance above 1")
        return tuple(warnings)

    def parameters_for(self, request: GenerationRequest) -> dict:
        params: dict[str, Any] = {
            "prompt": request.prompt,
            "mode": str(request.mode),
            "model": self.family.name,
            "size": f"{request.width}x{request.height}",
            "steps": request.steps,
            "guidance": request.guidance,
            "seed": request.seed,
        }
        if request.negative_prompt:
            params["negative_prompt"] = request.negative_prompt
        if "strength" in request.mode.spec.fields:
            params["strength"] = request.strength
        if "conditioning_scale" in request.mode.spec.fields:
            params.update(
                low_threshold=request.canny_low,
                high_threshold=request.canny_high,
                conditioning_scale=request.conditioning_scale,
            )
        if request.mode.spec.video:
            params.update(frames=request.frames, fps=request.fps, motion=request.motion)
        for name in ("scale", "upscale_kind", "outpaint"):
            if name in request.mode.spec.fields:
                params[name] = getattr(request, name)
        if request.styles:
            params["styles"] = {c.name: c.weight for c in request.styles}
        return params

    # ------------------------------------------------------------------ safety

    def fast_decoder(self):
        """The family's TAESD, loaded on first use (the "fast" quality tier)."""
        from diffusers import AutoencoderTiny

        if self._taesd is None:
            self._taesd = self._load_model(AutoencoderTiny, self.family.taesd)
        return self._taesd

    def safety_checker(self):
        """The family's safety checker, loaded on first use."""
        from generation.models.safety import SafetyChecker

        if self._safety is None:
            self._safety = SafetyChecker.load(
                self.family.safety_checker, device=self.device, dtype=self.dtype
            )
        return self._safety

    def _check_safety(self, requests, pictures: list[list]) -> list[bool] | None:
        """One flag per batch item; an animation is judged by its first, middle and last frames."""
        if not any(r.safety_check for r in requests):
            return None
        samples = [[p[0], p[len(p) // 2], p[-1]] if len(p) > 1 else p for p in pictures]
        flat = self.safety_checker().check([picture for item in samples for picture in item])
        flags, cursor = [], 0
        for item in samples:
            flags.append(any(flat[cursor : cursor + len(item)]))
            cursor += len(item)
        return flags


def _keep_unmasked(pictures: list[list], requests) -> list[list]:
    """Each inpainted picture with the user's own pixels back outside its request's mask."""
    from generation.images.masks import paste_outside_mask

    owners = [request for request in requests for _ in range(request.count)]
    return [
        [paste_outside_mask(request.image, picture, request.mask) for picture in item]
        for request, item in zip(owners, pictures, strict=True)
    ]


def _module_bytes(module: torch.nn.Module) -> int:
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def images_that_fit(free_bytes: int, per_image_bytes: int, *, headroom: float = 0.9) -> int:
    """How many images of a measured per-image activation cost fit in ``free_bytes``."""
    if per_image_bytes <= 0:
        raise ValueError("per_image_bytes must be positive")
    return max(0, int(free_bytes * headroom) // per_image_bytes)


BATCH_BUCKETS = (1, 2, 4, 8, 16, 32)


def batch_bucket(count: int) -> int:
    """The smallest bucket that holds ``count`` images (or ``count`` itself past the largest)."""
    return next((bucket for bucket in BATCH_BUCKETS if bucket >= count), count)


def _compile_unet(unet, mode: str, backend: str) -> None:
    # In place (nn.Module.compile), so the pipelines sharing this UNet and peft's adapter
    # switching keep seeing the same module object.
    if not getattr(unet, "_lcm_compiled", False):
        unet.compile(mode=None if backend != "inductor" else mode, backend=backend)
        unet._lcm_compiled = True


def _switch_adapters(holder, names: list[str], weights: list[float]) -> None:
    """Activate ``names`` at ``weights`` on a pipeline or a model, or turn LoRA off when empty."""
    unet = getattr(holder, "unet", holder)
    if not getattr(unet, "peft_config", None):
        return  # a full LCM checkpoint with no styles loaded: nothing to switch
    if names:
        holder.enable_lora()  # undo a previous batch's disable_lora()
        holder.set_adapters(names, weights)
    else:
        holder.disable_lora()


def _motion_adapter_name(name: str) -> str:
    return f"motion-{name}"


def _progress_arguments(pipe, on_step: StepCallback | None, total: int) -> dict[str, Any]:
    """Hook ``on_step`` into a pipeline call; raising from the hook is how a batch is cancelled.

    The LCM pipelines ignore ``interrupt``, so cancelling raises. The T2I-Adapter pipelines still
    have only the older ``callback``/``callback_steps`` hook.
    """

    def report(step: int) -> None:
        if on_step is not None and on_step(step + 1, total) is False:
            raise GenerationCancelled("cancelled while running")

    if "callback_on_step_end" in inspect.signature(pipe.__call__).parameters:

        def on_step_end(_pipe, step: int, timestep, callback_kwargs: dict) -> dict:
            report(step)
            return callback_kwargs

        return {"callback_on_step_end": on_step_end}
    return {"callback": lambda step, timestep, latents: report(step), "callback_steps": 1}


class GuidanceEmbedding:
    """Feeds a full LCM UNet its guidance embedding where the pipeline does not (AnimateDiff).

    AnimateDiffPipeline never passes ``timestep_cond``: on a distilled UNet it would run real
    classifier-free guidance instead (twice the cost, over-saturated frames). A forward pre-hook
    adds the embedding the other LCM pipelines compute, from ``guidance`` set before each call.
    """

    def __init__(self, unet, base_pipe) -> None:
        self.guidance = 1.0
        self._dim = unet.config.time_cond_proj_dim
        self._embed = base_pipe.get_guidance_scale_embedding
        unet.register_forward_pre_hook(self._add_embedding, with_kwargs=True)

    @classmethod
    def attach(cls, unet, base_pipe) -> GuidanceEmbedding:
        unet._lcm_guidance_embedding = cls(unet, base_pipe)
        return unet._lcm_guidance_embedding

    @staticmethod
    def of(unet) -> GuidanceEmbedding | None:
        return getattr(unet, "_lcm_guidance_embedding", None)

    def _add_embedding(self, _module, args, kwargs):
        if kwargs.get("timestep_cond") is None:
            sample = args[0] if args else kwargs["sample"]
            w = torch.full((sample.shape[0],), self.guidance - 1.0)
            embedding = self._embed(w, embedding_dim=self._dim)
            kwargs["timestep_cond"] = embedding.to(device=sample.device, dtype=sample.dtype)
        return args, kwargs
