"""Between slash-command options, stored parameters (plain JSON) and the GenerationRequest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PIL.Image import Image

from bot.style_options import as_picks
from generation.models.families import ModelFamily
from generation.models.styles import StyleChoice
from generation.modes import Mode, default_guidance
from generation.modes.requests import GenerationRequest
from storage.precedence import NamedParameters, PresetLayers, source_rank

# Styles are one choice: picking any overrides a preset's styles and their style weight together.
QUALIFIERS = {"styles": ("style_weight",)}


# Option and journal names of request fields whose names differ (generation.modes lists a
# mode's fields by their request names).
OPTION_NAMES = {
    "canny_low": "low_threshold",
    "canny_high": "high_threshold",
    "canny_invert": "invert_edges",
}


def builtin_defaults(family: ModelFamily, mode: Mode = Mode.TXT2IMG) -> dict[str, Any]:
    """The last level of precedence: what a job uses when nobody chose anything.

    Steps, guidance, strength, the conditioning scale and frames come from the mode's recipe for
    this family (generation.modes), so /inpaint and /animate start from the guide's values.
    """
    recipes = {m: m.spec.recipe(family) for m in (Mode.IMG2IMG, Mode.CONTROLNET, Mode.ANIMATE)}
    defaults = {
        "negative_prompt": "",
        "size": f"{family.default_size}x{family.default_size}",
        # One of generation.images.sizing.ASPECTS; size_or_aspect picks one of the two.
        "aspect": None,
        "steps": 4,
        "guidance": default_guidance(family),
        "count": 1,
        "strength": recipes[Mode.IMG2IMG].strength,
        "styles": None,
        "style_weight": None,
        "adapter": "controlnet",
        "low_threshold": 100,
        "high_threshold": 200,
        "conditioning_scale": recipes[Mode.CONTROLNET].conditioning_scale,
        "frames": recipes[Mode.ANIMATE].frames,
        "fps": 8,
        "motion": None,
        "quality": "full",
    }
    # Every key stays (presets are checked against them); the mode's recipe sets its values.
    defaults.update(mode.spec.recipe(family).values())
    return defaults


def size_or_aspect(values: dict[str, Any], sources: dict[str, str]) -> None:
    """Size and aspect are one choice: the value from the layer nearer the command wins.

    An aspect typed now beats a preset's size, a preset's aspect beats a default size, and in
    one layer (which the commands refuse to save) the size wins. The loser is set to None and
    takes the winner's source, so the result says where the shape came from.
    """
    if values.get("aspect") is None:
        return
    if source_rank(sources["aspect"]) < source_rank(sources["size"]):
        values["size"], sources["size"] = None, sources["aspect"]
    else:
        values["aspect"], sources["aspect"] = None, sources["size"]


def effective_mode(mode: Mode, values: Mapping[str, Any]) -> Mode:
    """/canny runs the ControlNet or the T2I-Adapter, as the ``adapter`` value says."""
    if mode in (Mode.CONTROLNET, Mode.T2I_ADAPTER):
        return Mode.T2I_ADAPTER if values.get("adapter") == "t2i-adapter" else Mode.CONTROLNET
    return mode


def build_request(
    mode: Mode,
    prompt: str,
    values: Mapping[str, Any],
    *,
    seed: int | None = None,
    image: Image | None = None,
    mask: Image | None = None,
    safety_check: bool = False,
    size_from_image: bool = False,
) -> GenerationRequest:
    """A GenerationRequest from effective values (options over presets over defaults)."""
    from generation.images.sizing import parse_size

    # With an upload, neither a stored size nor a stored aspect applies: the caller says
    # size_from_image unless one was typed on the command (see CommandDrafts).
    width = height = aspect = None
    if not size_from_image and values.get("size"):
        width, height = parse_size(str(values["size"]))
    elif not size_from_image and values.get("aspect"):
        aspect = str(values["aspect"])
    # A weight still None here is the style's default (validate_request fills it in).
    styles = tuple(StyleChoice(pick.name, pick.weight) for pick in as_picks(values.get("styles")))
    mode = effective_mode(mode, values)
    # Only what was journaled or chosen: a field a mode does not use keeps the request's default.
    own = {
        name: values[OPTION_NAMES.get(name, name)]
        for name in ("canny_low", "canny_high", "fps")
        if values.get(OPTION_NAMES.get(name, name)) is not None
    }
    # Upscale's factor and kind, outpaint's zoom or pan: what the button chose, as journaled.
    grows = {n: values[n] for n in ("upscale_kind", "outpaint") if values.get(n) is not None}
    if values.get("scale") is not None:
        grows["scale"] = int(values["scale"])
    return GenerationRequest(
        mode=mode,
        prompt=prompt,
        negative_prompt=str(values.get("negative_prompt") or ""),
        width=width,
        height=height,
        aspect=aspect,
        steps=_maybe_int(values.get("steps")),
        guidance=_maybe_float(values.get("guidance")),
        seed=seed,
        count=int(values.get("count") or 1),
        strength=_maybe_float(values.get("strength")),
        image=image,
        mask=mask,
        conditioning_scale=_maybe_float(values.get("conditioning_scale")),
        styles=styles,
        frames=_maybe_int(values.get("frames")),
        motion=values.get("motion") or None,
        safety_check=safety_check,
        quality=str(values.get("quality") or "full"),
        canny_invert=bool(values.get("invert_edges")),
        **{name: int(value) for name, value in own.items()},
        **grows,
    )


def journal_parameters(request: GenerationRequest) -> dict[str, Any]:
    """Everything needed to run ``request`` again, as plain JSON (images are stored apart).

    The fields every job has, plus the ones its mode's declaration lists, and nothing else.
    """
    parameters = {
        "mode": str(request.mode),
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "size": f"{request.width}x{request.height}",
        "steps": request.steps,
        "guidance": request.guidance,
        "seed": request.seed,
        "count": request.count,
        # Every style at its resolved weight, so a re-roll or recovery runs exactly this job.
        "styles": [{"name": choice.name, "weight": choice.weight} for choice in request.styles],
        "quality": request.quality,
    }
    spec = Mode(request.mode).spec
    for name in spec.fields:
        parameters[OPTION_NAMES.get(name, name)] = getattr(request, name)
    if spec.control_channels is not None:
        parameters["adapter"] = str(request.mode)
    return parameters


def upgrade_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters in this version's form, from a job row or preset written by any version.

    Before styles could be mixed, one `style` was stored with its `style_weight`.
    """
    values = dict(parameters)
    if "style" in values:
        name, weight = values.pop("style"), values.pop("style_weight", None)
        if "styles" not in values:
            values["styles"] = [{"name": name, "weight": weight}] if name else None
    return values


def upgrade_layers(layers: PresetLayers) -> PresetLayers:
    """The stored precedence layers with each preset's parameters upgraded."""

    def upgrade(named: NamedParameters | None) -> NamedParameters | None:
        return named and NamedParameters(named.name, upgrade_parameters(named.parameters))

    return PresetLayers(
        upgrade(layers.preset),
        upgrade(layers.user_default),
        upgrade(layers.server_default),
        upgrade(layers.channel_default),
    )


def _maybe_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _maybe_int(value: Any) -> int | None:
    """None stays None: the mode's recipe fills it in (journals hold None for unused fields)."""
    return None if value is None else int(value)
