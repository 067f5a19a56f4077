"""Benchmark: nudge click → edited message, and a sweep sheet's first cell and full sheet, live.

The real bot (discord.py, SQLite journal, the engine on the tiny family's real pipelines on the
CPU) against the loopback Discord double (tests/discord_double), timed on the double's clock:
from the click's INTERACTION_CREATE to the PATCH that shows the new picture, and from /sweep's
dispatch to the sheet's first and last versions. The same figures at the engine alone (no
Discord, no database) come alongside, from bench/exploration.py, which bench/gpu_checks.py runs
for sd15 on the GPU.

    .venv/bin/python bench/live_exploration.py --clicks 20 --sheets 3 \\
        --json bench/results/live-exploration-tiny-cpu.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.exploration import engine_exploration, percentiles  # noqa: E402


def _machine() -> dict:
    import torch

    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def _job_of(message) -> int:
    """The job a nudge panel shows: the one its Keep button carries."""
    keep = next(c for c in message.custom_ids() if c.startswith("lcm:tweak:keep:"))
    return int(keep.split(":")[3])


async def _nudges(harness, clicks: int) -> dict:
    double, engine = harness.double, harness.engine
    record = await double.invoke("imagine", {"prompt": "a lighthouse at dusk", "seed": 1})
    result = await record.wait_for_followup(timeout=60)
    await harness.bot.jobs.wait_idle()
    origin = int(result.custom_ids()[0].split(":")[2])
    panel = await (await double.click(result, f"lcm:nudge:{origin}")).wait_for_followup(timeout=60)
    renders = harness.bot.get_cog("NudgeCog").renders

    latencies = []
    for _ in range(clicks):
        shown = _job_of(panel)
        click = await double.click(panel, f"lcm:tweak:seed-up:{shown}")
        await double.wait_until(lambda s=shown: _job_of(panel) != s or None, 60, "the edit")
        latencies.append(panel.history[-1].at - click.dispatched_at)
        await renders.wait_idle()

    before = engine.snapshot()
    versions = len(panel.history)
    shown = _job_of(panel)
    burst = [await double.click(panel, f"lcm:tweak:seed-up:{shown}") for _ in range(5)]

    def resolved() -> bool | None:
        now = engine.snapshot()
        done = now.jobs["finished"] - before.jobs["finished"] + now.superseded - before.superseded
        return done == 5 or None

    await double.wait_until(resolved, 60, "the five clicks' jobs rendered or superseded")
    await renders.wait_idle()
    after = engine.snapshot()
    return {
        "click_to_edited_message": percentiles(latencies),
        "five_quick_clicks": {
            "renders": after.jobs["finished"] - before.jobs["finished"],
            "superseded": after.superseded - before.superseded,
            "edits_of_the_panel": len(panel.history) - versions,
            "new_messages": sum(len(c.followups) for c in burst),
            "to_last_edit_ms": round((panel.history[-1].at - burst[0].dispatched_at) * 1000, 1),
        },
    }


async def _sheets(harness, sheets: int) -> dict:
    double = harness.double
    cog = harness.bot.get_cog("SweepCog")
    runs = []
    for n in range(sheets):
        record = await double.invoke(
            "sweep",
            {"prompt": f"a {{red, blue, gold, green}} car {n}", "axis": "seed", "values": "1..4"},
        )
        sheet = await record.wait_for_followup(timeout=120)
        await cog.wait_idle()
        assert "complete" in sheet.content, sheet.content
        runs.append(
            {
                "first_cell_ms": round((sheet.history[0].at - record.dispatched_at) * 1000, 1),
                "full_sheet_ms": round((sheet.history[-1].at - record.dispatched_at) * 1000, 1),
                "versions": len(sheet.history),
            }
        )
    return {"cells": 16, "runs": runs}


async def measure(clicks: int, sheets: int) -> dict:
    from generation.engine import Engine, EngineConfig
    from generation.models.families import resolve_family
    from generation.modes import Mode
    from generation.modes.pipelines import PipelineSet
    from generation.modes.requests import GenerationRequest, validate_request
    from storage import migrate
    from storage.database import Database
    from tests.bot.conftest import bot_settings, make_bot
    from tests.discord_double import DiscordDouble

    family = resolve_family("tiny")
    pipes = PipelineSet(family)
    side = family.default_size
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'bench.sqlite3'}"
        # Alembic's env runs its own event loop: off this one.
        await asyncio.to_thread(migrate.upgrade, url, "head")
        # The bot's defaults: 8 images a GPU call.
        config = EngineConfig(batch_budget=8 * side * side, per_user_cap=50, global_cap=500)
        engine = Engine(lambda: pipes, family=family, config=config)
        database = Database.open(url)
        try:
            async with DiscordDouble() as double, engine:
                settings = bot_settings(double, url)
                bot = make_bot(settings, engine, database, pipes)
                async with double.running(bot):
                    harness = SimpleNamespace(double=double, bot=bot, engine=engine)
                    live = {
                        "nudge": await _nudges(harness, clicks),
                        "sheet": await _sheets(harness, sheets),
                    }
        finally:
            await database.close()
    request = validate_request(
        GenerationRequest(Mode.TXT2IMG, "a lighthouse at dusk", width=side, height=side), family
    )
    at_engine = await engine_exploration(pipes, request, clicks=clicks, cells=16, batch_images=8)
    return {
        "benchmark": "live-exploration",
        "command": (
            f".venv/bin/python bench/live_exploration.py --clicks {clicks} --sheets {sheets} "
            "--json …"
        ),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "family": "tiny",
        "size": f"{side}x{side}",
        "steps": request.steps,
        "through_the_double": live,
        "at_the_engine": at_engine,
        # The box is shared with other work: how busy it was (1, 5, 15 minutes), before and after.
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "machine": _machine(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=20, help="sequential nudge clicks timed")
    parser.add_argument("--sheets", type=int, default=3, help="16-cell sweeps timed")
    parser.add_argument("--json", type=Path, help="write the result here as well")
    args = parser.parse_args()
    if args.clicks < 1 or args.sheets < 1:
        parser.error("--clicks and --sheets must be at least 1")
    result = asyncio.run(measure(args.clicks, args.sheets))
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
