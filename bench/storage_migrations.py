"""Benchmark: upgrade → downgrade → upgrade on an empty SQLite file and on one with 1 M job rows.

    .venv/bin/python bench/storage_migrations.py --rows 1000000 \
        --json bench/results/storage-migrations.json

The seeded round trip goes head → previous revision → head, which makes batch mode rebuild the
`jobs` table twice (copy every row, drop, rename, re-index); a round trip through base would only
drop the data. Every row is compared before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage_concurrency import load_average, machine

from storage import migrate
from storage.backup import integrity_check

JOB_COLUMNS = (
    "user_id, guild_id, channel_id, command, parameters, seeds, status, attempts, created_at, "
    "started_at, finished_at, queue_seconds, run_seconds, result_channel_id, result_message_id, "
    "parent_id, error"
)


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return round(time.perf_counter() - started, 3)


def _jobs(rows: int) -> Iterator[tuple]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for n in range(1, rows + 1):
        created = start + timedelta(seconds=n * 7)
        stamp = created.strftime("%Y-%m-%d %H:%M:%S.%f")
        parameters = json.dumps(
            {"prompt": f"a watercolor lighthouse at dusk, number {n}", "steps": n % 8 + 1,
             "guidance": 1.5, "size": [768, 512], "styles": ["ink"] if n % 4 == 0 else []}
        )  # fmt: skip
        yield (
            10**18 + n % 5000, None if n % 9 == 0 else 9 * 10**17 + n % 300, 8 * 10**17 + n % 900,
            "imagine", parameters, json.dumps([n, n + 1]), "finished", 1, stamp, stamp, stamp,
            0.5, 1.25, 8 * 10**17, 7 * 10**17 + n, n - 1 if n % 10 == 0 else None, None,
        )  # fmt: skip


def seed(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA foreign_keys = ON")
        placeholders = ", ".join("?" * len(JOB_COLUMNS.split(",")))
        connection.executemany(
            f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({placeholders})", _jobs(rows)
        )
        connection.executemany(
            "INSERT INTO job_inputs (job_id, role, data) VALUES (?, 'image', ?)",
            ((n, bytes(range(256)) * 16) for n in range(1, min(rows, 1000) + 1)),
        )


def fingerprint(path: Path) -> dict[str, object]:
    """Row counts and a hash over every column of every job, in id order."""
    digest = hashlib.sha256()
    with sqlite3.connect(path) as connection:
        for row in connection.execute(f"SELECT id, {JOB_COLUMNS} FROM jobs ORDER BY id"):
            digest.update(repr(row).encode())
        inputs = connection.execute("SELECT count(*), sum(length(data)) FROM job_inputs").fetchone()
        jobs = connection.execute("SELECT count(*) FROM jobs").fetchone()[0]
        sequence = connection.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'jobs'"
        ).fetchone()
    return {"jobs": jobs, "jobs_sha256": digest.hexdigest(), "inputs": list(inputs),
            "sequence": sequence and sequence[0]}  # fmt: skip


def round_trip(url: str, down_to: str) -> dict[str, float]:
    return {
        f"downgrade_to_{down_to}_s": _timed(lambda: migrate.downgrade(url, down_to)),
        "upgrade_again_to_head_s": _timed(lambda: migrate.upgrade(url)),
    }


def measure(rows: int, scratch: Path) -> dict[str, object]:
    load_before = load_average()
    empty = scratch / "empty.sqlite3"
    empty_url = f"sqlite+aiosqlite:///{empty}"
    empty_times = {"first_upgrade_to_head_s": _timed(lambda: migrate.upgrade(empty_url))}
    empty_times |= round_trip(empty_url, "base")

    seeded = scratch / "seeded.sqlite3"
    seeded_url = f"sqlite+aiosqlite:///{seeded}"
    migrate.upgrade(seeded_url)
    seed_s = _timed(lambda: seed(seeded, rows))
    before = fingerprint(seeded)
    size_before = seeded.stat().st_size
    previous = "0001"
    seeded_times = round_trip(seeded_url, previous)
    after = fingerprint(seeded)
    with sqlite3.connect(seeded) as connection:
        broken_links = len(connection.execute("PRAGMA foreign_key_check").fetchall())
    return {
        "benchmark": "storage-migrations",
        "command": f"python bench/storage_migrations.py --rows {rows}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "head": migrate.head_revision(),
        "empty_database": empty_times | {"at_head_after": migrate.current_revision(empty_url)},
        "seeded_database": {
            "job_rows": rows,
            "file_mb_before": round(size_before / 2**20, 1),
            # Larger after: the rebuilds leave old pages free for reuse (VACUUM would shrink it).
            "file_mb_after": round(seeded.stat().st_size / 2**20, 1),
            "seed_s": round(seed_s, 1),
            "round_trip": f"head -> {previous} -> head (batch mode rebuilds jobs twice)",
            **seeded_times,
            "rows_before": before["jobs"],
            "rows_after": after["jobs"],
            "every_row_identical": before == after,
            "integrity_check": integrity_check(seeded),
            "foreign_key_violations": broken_links,
            "at_head_after": migrate.current_revision(seeded_url),
        },
        "machine": machine(),
        "load_average_1min": {"before": load_before, "after": load_average()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="job rows to seed (1 M)")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lcm-bench-") as scratch:
        result = measure(args.rows, Path(scratch))
    text = json.dumps(result, indent=2) + "\n"
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    sys.stdout.write(text)
    seeded = result["seeded_database"]
    sound = seeded["every_row_identical"] and seeded["integrity_check"] == "ok"
    return 0 if sound and not seeded["foreign_key_violations"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
