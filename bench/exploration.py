"""Exploration at the engine: a nudge click's render and PNG, five quick clicks, a 16-cell sheet.

No Discord and no database: what the GPU side of a nudge or a sweep costs, so that the same
figures can be taken on the device (bench/gpu_checks.py) and on a CPU next to the figures
through the loopback Discord (bench/live_exploration.py), whose difference is the bot's part.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import replace


def percentiles(samples: list[float]) -> dict:
    """p50 and p95 (nearest rank) in milliseconds, with the sample count."""
    ordered = sorted(samples)
    rank = max(0, round(0.95 * len(ordered) + 0.5) - 1)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[min(rank, len(ordered) - 1)] * 1000, 1),
        "samples": len(ordered),
    }


async def engine_exploration(pipes, request, *, clicks: int, cells: int, batch_images: int):
    """Warm the engine, then: ``clicks`` sequential nudges (submit → result → PNG), five quick
    clicks of one session (how many renders), and a sheet of ``cells`` (first cell, all, the
    labelled sheet encoded)."""
    from generation.engine import Engine, EngineConfig
    from generation.engine.events import JobSpec
    from generation.images.contact_sheet import encode_sheet, render_sheet
    from generation.images.encode import encode_png

    pixels = request.width * request.height
    config = EngineConfig(batch_budget=batch_images * pixels, per_user_cap=64, global_cap=256)
    ids = iter(range(10**9))

    def job(seed: int, key: str | None = None) -> JobSpec:
        return JobSpec(f"x{next(ids)}", 1, 1, replace(request, seed=seed), coalesce_key=key)

    async with Engine(lambda: pipes, family=pipes.family, config=config) as engine:
        await engine.submit(job(0)).result()  # warm: first-call allocations, kernel choice
        latencies = []
        for seed in range(1, clicks + 1):
            started = time.perf_counter()
            result = await engine.submit(job(seed, "panel")).result()
            await asyncio.to_thread(encode_png, result.images[0], result.parameters)
            latencies.append(time.perf_counter() - started)

        before = engine.snapshot()
        started = time.perf_counter()
        burst = [engine.submit(job(100 + n, "burst")) for n in range(5)]
        await burst[-1].result()
        burst_s = time.perf_counter() - started
        after = engine.snapshot()

        started = time.perf_counter()
        handles = [
            engine.submit(job(200 + n), enforce_caps=n == 0) for n in range(cells)
        ]  # a sweep: the first cell meets the cap, the rest ride with it
        first = None
        images = []
        for done in asyncio.as_completed([h.result() for h in handles]):
            images.append((await done).images[0])
            first = first or time.perf_counter() - started
        all_cells = time.perf_counter() - started
        side = max(1, round(cells**0.5))
        grid = [images[r * side : (r + 1) * side] for r in range(-(-cells // side))]
        grid[-1] += [None] * (side - len(grid[-1]))  # a short last row: blank cells
        rows = [f"row {r + 1}" for r in range(len(grid))]
        columns = [f"seed {c + 1}" for c in range(side)]
        sheet = await asyncio.to_thread(
            render_sheet, grid, rows, columns, (request.width, request.height)
        )
        await asyncio.to_thread(encode_sheet, sheet, 10 * 2**20)
        sheet_s = time.perf_counter() - started

    return {
        "size": f"{request.width}x{request.height}",
        "steps": request.steps,
        "batch_images": batch_images,
        "nudge_click_to_png": percentiles(latencies),
        "five_quick_clicks": {
            "renders": after.jobs["finished"] - before.jobs["finished"],
            "superseded": after.superseded - before.superseded,
            "to_last_png_ms": round(burst_s * 1000, 1),
        },
        "sheet": {
            "cells": cells,
            "first_cell_ms": round(first * 1000, 1),
            "all_cells_ms": round(all_cells * 1000, 1),
            "complete_with_labelled_sheet_ms": round(sheet_s * 1000, 1),
        },
    }
