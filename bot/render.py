"""Message text: status lines and result captions with seeds and sources, within limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MESSAGE_LIMIT = 2000
PROMPT_SHOWN = 300


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def queued_text(position: int) -> str:
    return f"⏳ Queued — position {position}"


def rendering_text(step: int | None = None, total: int | None = None) -> str:
    return "🎨 Rendering…" + (f" step {step}/{total}" if step is not None else "")


def result_caption(
    parameters: Mapping[str, Any],
    *,
    seeds: Sequence[int],
    sources: Mapping[str, str],
    job_id: int,
    style_origins: Mapping[str, str] | None = None,
    warnings: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> str:
    """The text under a result: prompt, seeds, the effective parameters and where each came from."""
    mode = parameters.get("mode", "txt2img")
    lines = [f"**{truncate(str(parameters.get('prompt', '')), PROMPT_SHOWN)}**"]
    seed_text = ", ".join(str(seed) for seed in seeds)
    facts = [
        f"seed {seed_text}",
        str(parameters.get("size", "")).replace("x", "×"),
        f"{parameters.get('steps')} steps",
        f"guidance {parameters.get('guidance')}",
    ]
    if mode in ("img2img", "inpaint"):
        facts.append(f"strength {parameters.get('strength')}")
    if mode in ("controlnet", "t2i-adapter"):
        edges = f"{parameters.get('low_threshold')}–{parameters.get('high_threshold')}"
        facts.append(f"{mode} {edges}" + (" inverted" if parameters.get("invert_edges") else ""))
    if mode == "animate":
        facts.append(f"{parameters.get('frames')} frames @ {parameters.get('fps')} fps")
        if parameters.get("motion"):
            facts.append(f"motion {parameters['motion']}")
    lines.append(" · ".join(facts) + f" · job {job_id}")
    if parameters.get("styles"):
        lines.append(styles_line(parameters["styles"], style_origins or {}))
    chosen = _sources_line(sources)
    if chosen:
        lines.append(chosen)
    lines.extend(f"⚠️ {warning}" for warning in warnings)
    lines.extend(notes)
    return truncate("\n".join(lines), MESSAGE_LIMIT)


def styles_line(styles: Sequence[Mapping[str, Any]], origins: Mapping[str, str]) -> str:
    """Every style at its weight, with where it came from when known (not on re-rolls)."""
    parts = []
    for style in styles:
        origin = origins.get(style["name"])
        parts.append(f"{style['name']} {style['weight']:g}" + (f" ({origin})" if origin else ""))
    return "Styles: " + " · ".join(parts)


def _sources_line(sources: Mapping[str, str]) -> str:
    """Only values from presets and server defaults are worth a line; options are obvious."""
    # The styles line says where each style came from.
    borrowed = {
        k: v
        for k, v in sources.items()
        if v not in ("option", "built-in") and k not in ("styles", "style_weight")
    }
    if not borrowed:
        return ""
    by_source: dict[str, list[str]] = {}
    for key, source in borrowed.items():
        by_source.setdefault(source, []).append(key.replace("_", " "))
    parts = [f"{', '.join(keys)} from {source}" for source, keys in by_source.items()]
    return "-# " + "; ".join(parts)
