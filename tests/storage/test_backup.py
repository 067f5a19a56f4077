"""Online backup while writers run, and the restore drill: integrity ok, the snapshot's rows."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from storage.backup import backup, backup_sqlite, integrity_check, restore_sqlite
from storage.database import Database
from storage.engine import engine_for, sqlite_path
from storage.errors import BackupNotSupported, StorageError
from storage.models import Job, JobInput, JobStatus, PresetScope

UPLOAD = bytes(range(256)) * 64  # 16 KiB per job: a file big enough that copying it takes a while


def row_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for name in sorted(tables)
        }


async def seed(url: str, jobs: int) -> None:
    engine = engine_for(url)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(Job),
                [
                    {"user_id": 1, "channel_id": 1, "command": "img2img", "parameters": {"n": n},
                     "seeds": [n], "status": JobStatus.FINISHED, "attempts": 1,
                     "created_at": created}
                    for n in range(jobs)
                ],
            )  # fmt: skip
            await connection.execute(
                insert(JobInput),
                [{"job_id": n, "role": "image", "data": UPLOAD} for n in range(1, jobs + 1)],
            )
    finally:
        await engine.dispose()


async def keep_writing(db: Database, writer: int, stop: asyncio.Event, done: list[float]) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        job = await db.jobs.record(
            user_id=writer, channel_id=1, guild_id=None, command="img2img", parameters={"n": n},
            seeds=[n], inputs={"image": UPLOAD},
        )  # fmt: skip
        await db.jobs.start(job.id)
        await db.presets.upsert(PresetScope.USER, writer, f"p{n % 3}", {"n": n})
        done.append(time.monotonic())


@pytest.mark.slow
async def test_a_backup_taken_while_writers_run_restores_exactly_its_snapshot(
    sqlite_database: str, tmp_path: Path
):
    source = sqlite_path(sqlite_database)
    await seed(sqlite_database, 2_000)
    db = Database.open(sqlite_database)
    stop, writes = asyncio.Event(), []
    writers = [asyncio.create_task(keep_writing(db, n, stop, writes)) for n in range(1, 6)]
    try:
        while len(writes) < 20:  # the writers are well under way before the backup starts
            await asyncio.sleep(0.01)
        # Until a write finishes while the copy is made: on a loaded machine one copy can fall
        # between two writes, and then the test would show nothing about writers.
        for _ in range(10):
            began = time.monotonic()
            report = await asyncio.to_thread(backup_sqlite, source, tmp_path / "backup.sqlite3")
            ended = time.monotonic()
            if any(began < at < ended for at in writes):
                break
        await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.gather(*writers)
        await db.close()

    # The writers really ran while the copy was made, and after it.
    assert any(began < at < ended for at in writes), "no write finished during the backup"
    live = row_counts(source)
    assert live["jobs"] > report.row_counts["jobs"] > 2_000

    # The backup: sound, one self-contained file, exactly the rows counted at its snapshot.
    assert report.path == tmp_path / "backup.sqlite3"
    assert integrity_check(report.path) == "ok"
    assert row_counts(report.path) == report.row_counts
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob("backup.sqlite3-wal"))

    # The restore drill: into a fresh file, then read back through the repositories.
    restored = tmp_path / "restored" / "lcm-bot.sqlite3"
    assert restore_sqlite(report.path, restored) == report.row_counts
    assert integrity_check(restored) == "ok"
    assert row_counts(restored) == report.row_counts
    async with Database.open(f"sqlite+aiosqlite:///{restored}") as back:
        newest = (await back.jobs.recent(user_id=1, limit=1))[0]
        assert await back.jobs.inputs(newest.id) == {"image": UPLOAD}
        assert await back.recover_jobs() is not None
    assert report.row_counts["jobs"] == report.row_counts["job_inputs"]  # no job without its upload


def test_a_failed_restore_leaves_no_half_file_and_names_the_problem(tmp_path: Path):
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(StorageError, match=r"damaged\.sqlite3 is not a readable SQLite database"):
        restore_sqlite(damaged, tmp_path / "target.sqlite3")
    assert not (tmp_path / "target.sqlite3").exists()
    with pytest.raises(StorageError, match="no backup file"):
        restore_sqlite(tmp_path / "missing.sqlite3", tmp_path / "target.sqlite3")


def test_backup_refuses_to_overwrite_the_database_or_read_a_missing_one(sqlite_database: str):
    source = sqlite_path(sqlite_database)
    with pytest.raises(StorageError, match="different file"):
        backup_sqlite(source, source)
    with pytest.raises(StorageError, match="no database file"):
        backup_sqlite(source.with_name("missing.sqlite3"), source.with_name("b.sqlite3"))


def test_postgresql_backups_point_to_pg_dump(tmp_path: Path):
    with pytest.raises(BackupNotSupported, match="pg_dump"):
        backup("postgresql+asyncpg://user@localhost/lcm", tmp_path / "x")
