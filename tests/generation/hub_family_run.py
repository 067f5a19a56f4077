"""Run one hub family end to end as an operator's process would; print a JSON report.

Run as ``python -m tests.generation.hub_family_run FAMILY`` with HF_HOME pointing at a
hub-faithful cache and HF_HUB_OFFLINE=1 (huggingface_hub reads both at import, hence a process of
its own). Every mode the family serves runs through the production PipelineSet from the real hub
ids; one mode's failure is recorded and the next mode still runs.
"""

from __future__ import annotations

import json
import sys
import time
import traceback

from PIL import Image, ImageDraw


def _pictures(side: int) -> tuple[Image.Image, Image.Image]:
    image = Image.new("RGB", (side, side), (90, 120, 150))
    draw = ImageDraw.Draw(image)
    draw.rectangle((side // 5, side // 5, side // 2, side // 2), fill=(230, 40, 40))
    draw.ellipse((side // 2, side // 8, 7 * side // 8, side // 2), fill=(40, 200, 90))
    mask = Image.new("L", (side, side), 0)
    mask.paste(255, (side // 4, side // 4, 3 * side // 4, 3 * side // 4))
    return image, mask


def _request(family, mode, image, mask):
    from generation.modes import Mode
    from generation.modes.requests import GenerationRequest, validate_request

    side = family.min_side  # the smallest size the family accepts; the models are tiny anyway
    fields = dict(mode=mode, prompt="a red box beside a green ball", seed=1, steps=2)
    fields.update(width=side, height=side)
    if mode.needs_image:
        fields["image"] = image
    if mode is Mode.INPAINT:
        fields["mask"] = mask
    if mode is Mode.TXT2IMG:
        fields["safety_check"] = True  # loads the safety checker repository too
    if mode is Mode.IMG2IMG and family.taesd:
        fields["quality"] = "fast"  # decodes with the TAESD repository
    if mode is Mode.ANIMATE:
        fields.update(frames=8, motion=next(iter(family.motion_loras), None))
    if mode in (Mode.UPSCALE, Mode.OUTPAINT):
        # The output doubles the picture: half the side in, the family's smallest side out.
        fields.update(width=None, height=None, image=image.resize((side // 2, side // 2)))
        if mode is Mode.UPSCALE:  # creative: the upscaler repository and the img2img pass
            fields.update(scale=2, upscale_kind="creative", steps=None)  # the recipe's 8 × 0.3
        else:
            fields["outpaint"] = "zoom-2"
    return validate_request(GenerationRequest(**fields), family)


def run(name: str) -> dict:
    from generation.models.families import resolve_family
    from generation.modes import supported_modes
    from generation.modes.pipelines import PipelineSet

    report: dict = {"family": name, "modes": {}}
    started = time.perf_counter()
    try:
        family = resolve_family(name)
        pipes = PipelineSet(family)
    except Exception as exc:
        report["error"] = _describe(exc)
        return report
    report["load_seconds"] = round(time.perf_counter() - started, 2)
    image, mask = _pictures(family.min_side)
    for mode in supported_modes(family):
        started = time.perf_counter()
        entry: dict = {}
        try:
            (result,) = pipes.run([_request(family, mode, image, mask)])
            picture = result.images[0] if result.images else result.animations[0][0]
            entry.update(
                size=list(picture.size),
                frames=len(result.animations[0]) if result.animations else 1,
                nsfw=list(result.nsfw) if result.nsfw is not None else None,
                distinct_colours=len(set(picture.convert("RGB").getdata())),
            )
        except Exception as exc:
            entry["error"] = _describe(exc)
        entry["seconds"] = round(time.perf_counter() - started, 2)
        report["modes"][str(mode)] = entry
    report["lora_layers"] = _lora_layers(family, pipes, report["modes"])
    return report


def _lora_layers(family, pipes, modes: dict) -> dict:
    """{adapter: [layers attached, modules in the file]}: a LoRA whose keys miss is visible here."""
    from generation.modes import Mode

    found = {}
    if family.lcm_lora is not None and not pipes.fuse_lcm_lora and "error" not in modes["txt2img"]:
        unet = pipes.pipeline(Mode.TXT2IMG).unet
        found["lcm"] = [_attached(unet, "lcm"), _file_modules(family.lcm_lora, kohya=True)]
    if "animate" in modes and "error" not in modes["animate"]:
        unet = pipes.pipeline(Mode.ANIMATE).unet
        for name, lora in family.motion_loras.items():
            adapter = f"motion-{name}"
            found[adapter] = [_attached(unet, adapter), _file_modules(lora, kohya=False)]
    return found


def _attached(unet, adapter: str) -> int:
    return sum(1 for _, m in unet.named_modules() if adapter in getattr(m, "lora_A", {}))


def _file_modules(lora, *, kohya: bool) -> int:
    from huggingface_hub import hf_hub_download
    from safetensors import safe_open

    path = hf_hub_download(lora.source, lora.weight_name or "pytorch_lora_weights.safetensors")
    with safe_open(path, framework="pt") as weights:
        keys = list(weights.keys())
    # kohya: "<module>.lora_down.weight" / ".alpha"; old style: "<...to_q_lora>.down.weight"
    return len({key.split(".")[0] if kohya else key.rsplit(".", 2)[0] for key in keys})


def _describe(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{type(exc).__name__}: {str(exc)[:600]} (at {last.filename}:{last.lineno})"


if __name__ == "__main__":
    print("HUB-FAMILY-REPORT " + json.dumps(run(sys.argv[1])), flush=True)
