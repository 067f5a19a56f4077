"""Upscale ×4 of a 512² tiny picture to 2048²: the file against the upload limit, and the peak
memory of each tile of the creative pass (CPU, resident set size).

    python bench/upscale_memory.py --json bench/results/upscale-tiny-cpu.json

The tiny family runs here with SD1.5's native 512² as its size, so the creative pass works in
SD1.5's 512² tiles (25 of them for 2048²), on the tiny random-weight models. The peak is read
from /proc/self/status (VmHWM) after resetting it (/proc/self/clear_refs) before each tile.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

DEFAULT_UPLOAD = 10 * 1024 * 1024  # Discord's default per-file limit (DISCORD.md)


def _peak_rss_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _rss(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--tiles-per-call", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import generation.modes.upscale as upscale
    from generation.images.encode import encode_image_within
    from generation.models.families import resolve_family
    from generation.modes import Mode
    from generation.modes.pipelines import PipelineSet
    from generation.modes.requests import GenerationRequest, validate_request

    upscale.TILES_PER_CALL = args.tiles_per_call
    family = dataclasses.replace(
        resolve_family("tiny"), default_size=512, max_side=max(512, args.side)
    )
    pipes = PipelineSet(family)
    made = validate_request(
        GenerationRequest(
            mode=Mode.TXT2IMG, prompt="a harbour", width=args.side, height=args.side, seed=1
        ),
        family,
    )
    (picture,) = pipes.run([made])[0].images
    report: dict = {"machine": platform.processor() or platform.machine(), "input": picture.size}

    tiles: list[dict] = []
    inner_run = pipes.run

    def measured_run(requests, on_step=None):
        if requests[0].mode is not Mode.IMG2IMG:
            return inner_run(requests, on_step)
        _peak_rss_reset()
        before = _rss("VmRSS")
        started = time.perf_counter()
        results = inner_run(requests, on_step)
        tiles.append(
            dict(
                tiles=len(requests),
                tile=[requests[0].width, requests[0].height],
                rss_before_mb=round(before / 2**20, 1),
                peak_rss_mb=round(_rss("VmHWM") / 2**20, 1),
                seconds=round(time.perf_counter() - started, 2),
            )
        )
        return results

    pipes.run = measured_run
    for kind in ("subtle", "creative"):
        tiles.clear()
        request = validate_request(
            GenerationRequest(
                mode=Mode.UPSCALE,
                prompt="a harbour",
                image=picture,
                scale=4,
                upscale_kind=kind,
                seed=2,
            ),
            family,
        )
        _peak_rss_reset()
        started = time.perf_counter()
        (result,) = upscale.run(pipes, [request])
        seconds = time.perf_counter() - started
        (out,) = result.images
        data, extension = encode_image_within(out, result.parameters, max_bytes=DEFAULT_UPLOAD)
        entry = dict(
            size=list(out.size),
            file_bytes=len(data),
            file_format=extension,
            upload_limit=DEFAULT_UPLOAD,
            seconds=round(seconds, 1),
            peak_rss_mb_whole_job=round(_rss("VmHWM") / 2**20, 1),
        )
        if kind == "creative":
            entry["calls"] = list(tiles)
            entry["max_peak_rss_mb_per_call"] = max(t["peak_rss_mb"] for t in tiles)
        report[kind] = entry
        print(kind, json.dumps({k: v for k, v in entry.items() if k != "calls"}))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
