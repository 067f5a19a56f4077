"""Benchmark: 50 concurrent writers on one SQLite file through the repositories; count lock errors.

    .venv/bin/python bench/storage_concurrency.py --writers 50 --seconds 60 \
        --json bench/results/storage-concurrency.json

Two runs of `--seconds` each, because there are two ways to be a concurrent writer:
  tasks      50 coroutines in one process, each on its own pooled connection: the bot under a burst.
  processes  50 processes, each with its own engine: every writer meets SQLite's file lock directly.
A writer loops over the bot's real write pattern: record a job with an upload, start it, finish it,
save a preset. Each repository call is one write transaction and one latency sample.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import multiprocessing
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path

from storage import migrate
from storage.backup import integrity_check
from storage.database import Database
from storage.engine import BUSY_TIMEOUT_MS, SQLITE_SYNCHRONOUS
from storage.models import PresetScope

UPLOAD = bytes(range(256)) * 16  # 4 KiB: a small PNG
MODES = ("tasks", "processes")


@dataclass
class Tally:
    latencies: array.array = field(default_factory=lambda: array.array("d"))
    lock_errors: int = 0
    other_errors: int = 0
    jobs_recorded: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.latencies.extend(other.latencies)
        self.lock_errors += other.lock_errors
        self.other_errors += other.other_errors
        self.jobs_recorded += other.jobs_recorded
        self.examples = sorted(set(self.examples + other.examples))[:5]


async def write_until(db: Database, writer: int, deadline: float) -> Tally:
    """One writer: the bot's write pattern until `deadline` (time.time()); errors are counted."""
    tally, n = Tally(), 0
    while time.time() < deadline:
        n += 1
        try:
            started = time.perf_counter()
            job = await db.jobs.record(
                user_id=writer, channel_id=1, guild_id=writer % 5, command="img2img",
                parameters={"prompt": f"writer {writer} job {n}", "steps": 4}, seeds=[n],
                inputs={"image": UPLOAD},
            )  # fmt: skip
            tally.latencies.append(time.perf_counter() - started)
            tally.jobs_recorded += 1
            for write in (
                partial(db.jobs.start, job.id),
                partial(db.jobs.finish, job.id, result_channel_id=1, result_message_id=n),
                partial(db.presets.upsert, PresetScope.USER, writer, f"p{n % 10}", {"n": n}),
            ):
                started = time.perf_counter()
                await write()
                tally.latencies.append(time.perf_counter() - started)
        except Exception as exc:  # counted, never fatal: counting them is the point
            if "database is locked" in str(exc):
                tally.lock_errors += 1
            else:
                tally.other_errors += 1
            if len(tally.examples) < 3:
                tally.examples.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    return tally


def run_tasks(url: str, writers: int, seconds: float) -> tuple[Tally, float]:
    async def main() -> tuple[Tally, float]:
        # A connection per writer, so they contend in SQLite rather than queue for the pool.
        db = Database.open(url, pool_size=writers, max_overflow=0)
        try:
            await asyncio.gather(*(db.guilds.get(n) for n in range(writers)))  # warm the pool
            started = time.perf_counter()
            deadline = time.time() + seconds
            tallies = await asyncio.gather(
                *(write_until(db, n, deadline) for n in range(1, writers + 1))
            )
            elapsed = time.perf_counter() - started
        finally:
            await db.close()
        total = Tally()
        for tally in tallies:
            total.add(tally)
        return total, elapsed

    return asyncio.run(main())


def _process_writer(url: str, writer: int, ready, go, deadline, results) -> None:
    async def main() -> Tally:
        db = Database.open(url)
        try:
            await db.guilds.get(writer)  # open the connection before the clock starts
            ready.release()
            go.wait()
            return await write_until(db, writer, deadline.value)
        finally:
            await db.close()

    tally = asyncio.run(main())
    results.put(
        (tally.latencies.tobytes(), tally.lock_errors, tally.other_errors, tally.jobs_recorded,
         tally.examples)
    )  # fmt: skip


def run_processes(url: str, writers: int, seconds: float) -> tuple[Tally, float]:
    # fork: this process is single-threaded here, and children skip re-importing SQLAlchemy.
    context = multiprocessing.get_context("fork")
    ready, go = context.Semaphore(0), context.Event()
    deadline, results = context.Value("d", 0.0), context.Queue()
    processes = [
        context.Process(target=_process_writer, args=(url, n, ready, go, deadline, results))
        for n in range(1, writers + 1)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        if not ready.acquire(timeout=120):
            raise RuntimeError("a writer process did not start within 120 s")
    deadline.value = time.time() + seconds
    started = time.perf_counter()
    go.set()
    total = Tally()
    for _ in processes:
        latencies, locks, others, recorded, examples = results.get(timeout=seconds + 300)
        part = Tally(array.array("d"), locks, others, recorded, examples)
        part.latencies.frombytes(latencies)
        total.add(part)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    return total, elapsed


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def summarize(tally: Tally, elapsed: float, database: Path) -> dict[str, object]:
    ms = sorted(value * 1000 for value in tally.latencies)
    with sqlite3.connect(database) as connection:
        stored = connection.execute("SELECT count(*) FROM jobs").fetchone()[0]
    return {
        "seconds": round(elapsed, 2),
        "writes": len(ms),
        "writes_per_second": round(len(ms) / elapsed, 1),
        "write_latency_ms": {
            "p50": round(_percentile(ms, 0.50), 2),
            "p90": round(_percentile(ms, 0.90), 2),
            "p99": round(_percentile(ms, 0.99), 2),
            "max": round(ms[-1], 2),
            "mean": round(statistics.fmean(ms), 2),
        },
        "lock_errors": tally.lock_errors,
        "other_errors": tally.other_errors,
        "error_examples": tally.examples,
        # Every job whose record() returned is in the file, and the file is sound.
        "jobs_recorded": tally.jobs_recorded,
        "jobs_stored": stored,
        "integrity_check": integrity_check(database),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, object]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": version("sqlalchemy"),
        "aiosqlite": version("aiosqlite"),
    }


def load_average() -> float:
    """The 1-minute load average: this box has 2 cores and may be shared, so say how busy it was."""
    return round(os.getloadavg()[0], 2)


def measure(writers: int, seconds: float, modes: tuple[str, ...], scratch: Path) -> dict:
    load_before = load_average()
    runs = {}
    for mode in modes:
        database = scratch / f"{mode}.sqlite3"
        url = f"sqlite+aiosqlite:///{database}"
        migrate.upgrade(url)
        runner = run_tasks if mode == "tasks" else run_processes
        runs[mode] = summarize(*runner(url, writers, seconds), database)
    return {
        "benchmark": "storage-concurrency",
        "command": (
            f"python bench/storage_concurrency.py --writers {writers} --seconds {seconds:g} "
            f"--mode {'both' if len(modes) > 1 else modes[0]}"
        ),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "writers": writers,
        "lock_errors": sum(run["lock_errors"] for run in runs.values()),
        "runs": runs,
        "sqlite_settings": {
            "journal_mode": "wal",
            "synchronous": SQLITE_SYNCHRONOUS,
            "busy_timeout_ms": BUSY_TIMEOUT_MS,
            "write_transactions": "BEGIN IMMEDIATE, queued first-come first-served per process",
        },
        "machine": machine(),
        "load_average_1min": {"before": load_before, "after": load_average()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=50, help="concurrent writers (default 50)")
    parser.add_argument("--seconds", type=float, default=60, help="length of each run (default 60)")
    parser.add_argument(
        "--mode", choices=(*MODES, "both"), default="both", help="which runs (default both)"
    )
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args(argv)

    modes = MODES if args.mode == "both" else (args.mode,)
    with tempfile.TemporaryDirectory(prefix="lcm-bench-") as scratch:
        result = measure(args.writers, args.seconds, modes, Path(scratch))
    text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    sys.stdout.write(text)
    sound = all(
        run["lock_errors"] == 0
        and run["other_errors"] == 0
        and run["integrity_check"] == "ok"
        and run["jobs_stored"] == run["jobs_recorded"]
        for run in result["runs"].values()
    )
    return 0 if sound else 1


if __name__ == "__main__":
    raise SystemExit(main())
