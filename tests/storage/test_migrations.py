"""Alembic migrations on real files and a real server: round trips, data survival, an empty diff."""

from __future__ import annotations

import asyncio
import glob
import sqlite3
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select

from storage import migrate
from storage.backup import integrity_check
from storage.engine import engine_for, sqlite_path
from storage.models import Base, Job, JobInput, JobStatus, Preset, PresetScope
from tests.storage.conftest import sqlite_url

ROOT = Path(__file__).resolve().parents[2]
TABLES = {
    "alembic_version",
    "blocklist_entries",
    "channel_rules",
    "guilds",
    "job_inputs",
    "jobs",
    "mod_log_entries",
    "moderation_settings",
    "presets",
    "quota_settings",
    "quota_usage",
    "role_limits",
    "showcase_posts",
    "users",
}
TABLES_OF_0001 = {"alembic_version", "guilds", "job_inputs", "jobs", "presets", "users"}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "empty.sqlite3")
    return request.getfixturevalue("empty_postgres_database")


def run(coroutine):
    return asyncio.run(coroutine)


async def _tables(url: str) -> set[str]:
    engine = engine_for(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def _autogenerate_diff(url: str) -> list:
    engine = engine_for(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()


def test_upgrade_downgrade_upgrade_on_an_empty_database(empty_database: str):
    assert migrate.current_revision(empty_database) is None

    migrate.upgrade(empty_database)
    assert migrate.current_revision(empty_database) == migrate.head_revision() == "0004"
    assert run(_tables(empty_database)) == TABLES

    migrate.downgrade(empty_database, "base")
    assert migrate.current_revision(empty_database) is None
    assert run(_tables(empty_database)) <= {"alembic_version"}

    migrate.upgrade(empty_database)
    assert migrate.current_revision(empty_database) == "0004"
    assert run(_tables(empty_database)) == TABLES


def test_the_models_and_the_migrations_describe_the_same_schema(empty_database: str):
    migrate.upgrade(empty_database)
    assert run(_autogenerate_diff(empty_database)) == []


def test_the_diff_check_notices_a_model_the_migrations_lack(empty_database: str):
    migrate.upgrade(empty_database, "0001")  # 0002 adds the parent foreign key and its index
    diff = run(_autogenerate_diff(empty_database))
    # Later revisions add whole tables: exactly those 0001 does not create.
    added = {change[1].name for change in diff if change[0] == "add_table"}
    assert added == TABLES - TABLES_OF_0001
    assert {change[0] for change in diff if change[0] != "add_table"} == {
        "add_fk",
        "add_index",
        "add_column",
    }
    # Columns added to older tables: the safety check's flags on a job (0003), a server's sweep
    # size (0004).
    columns = {(c[2], c[3].name) for c in diff if c[0] == "add_column"}
    assert columns == {("jobs", "flagged_seeds"), ("guilds", "max_sweep_cells")}


SEEDED_JOBS = 20_000


async def _seed(url: str, jobs: int) -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    engine = engine_for(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(Job),
                [
                    {
                        "id": n,
                        "user_id": 10**18 + n % 97,
                        "guild_id": None if n % 5 == 0 else 9 * 10**17 + n % 13,
                        "channel_id": 8 * 10**17,
                        "command": "imagine",
                        "parameters": {"prompt": f"prompt {n} ✓", "steps": n % 8 + 1},
                        "seeds": [n, n + 1],
                        "status": JobStatus.FINISHED if n % 3 else JobStatus.QUEUED,
                        "attempts": n % 3,
                        "created_at": created,
                        "parent_id": n - 1 if n % 10 == 0 else None,
                    }
                    for n in range(1, jobs + 1)
                ],
            )
            await connection.execute(
                insert(JobInput),
                [
                    {"job_id": n, "role": "image", "data": b"png%d" % n}
                    for n in range(1, min(jobs, 100) + 1)
                ],
            )
            await connection.execute(
                insert(Preset),
                [
                    {
                        "scope": PresetScope.USER,
                        "owner_id": n,
                        "name": "p",
                        "parameters": {"n": n},
                        "created_at": created,
                        "updated_at": created,
                    }
                    for n in range(50)
                ],
            )
    finally:
        await engine.dispose()


async def _snapshot(url: str) -> dict[str, object]:
    engine = engine_for(url)
    try:
        async with engine.connect() as connection:
            jobs = (await connection.execute(select(Job.__table__).order_by(Job.id))).all()
            inputs = (await connection.execute(select(JobInput.__table__))).all()
            presets = await connection.scalar(select(func.count()).select_from(Preset))
            return {"jobs": jobs, "inputs": sorted(inputs), "presets": presets}
    finally:
        await engine.dispose()


@pytest.mark.slow
def test_a_round_trip_through_batch_mode_keeps_every_row(empty_database: str):
    migrate.upgrade(empty_database)
    rows = SEEDED_JOBS if empty_database.startswith("sqlite") else SEEDED_JOBS // 10
    run(_seed(empty_database, rows))
    before = run(_snapshot(empty_database))

    migrate.downgrade(empty_database, "-1")  # rebuilds `jobs` without the foreign key
    migrate.upgrade(empty_database)  # and rebuilds it again with it

    after = run(_snapshot(empty_database))
    assert len(after["jobs"]) == rows
    assert after == before  # every column of every job, all uploads (no cascade fired), presets
    assert run(_autogenerate_diff(empty_database)) == []
    path = sqlite_path(empty_database)
    if path is not None:
        assert integrity_check(path) == "ok"
        with sqlite3.connect(path) as connection:
            schema = connection.execute("SELECT sql FROM sqlite_schema WHERE name = 'jobs'")
            ddl = schema.fetchone()[0]
            assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        # What batch mode must carry over when it rebuilds the table.
        assert "AUTOINCREMENT" in ddl
        assert "CONSTRAINT ck_jobs_job_status CHECK" in ddl
        assert "CONSTRAINT fk_jobs_parent_id_jobs FOREIGN KEY" in ddl


def test_a_rebuilt_jobs_table_never_reuses_a_deleted_newest_id(tmp_path: Path):
    path = tmp_path / "sequence.sqlite3"
    migrate.upgrade(sqlite_url(path))
    run(_seed(sqlite_url(path), 10))
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA foreign_keys = ON")  # take their uploads along, as the bot would
        connection.execute("DELETE FROM jobs WHERE id > 5")

    migrate.downgrade(sqlite_url(path), "-1")
    migrate.upgrade(sqlite_url(path))

    with sqlite3.connect(path) as connection:
        (sequence,) = connection.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'jobs'"
        ).fetchone()
    assert sequence == 10  # not 5: ids 6–10 may still sit in buttons on old messages


def test_a_migration_that_would_break_a_foreign_key_changes_nothing(tmp_path: Path):
    url = sqlite_url(tmp_path / "broken.sqlite3")
    migrate.upgrade(url, "0001")
    run(_seed(url, 3))
    with sqlite3.connect(sqlite_path(url)) as connection:
        connection.execute("UPDATE jobs SET parent_id = 999 WHERE id = 1")  # no such job

    with pytest.raises(RuntimeError, match="broken foreign keys"):
        migrate.upgrade(url)

    # Transactional DDL: the rebuild of `jobs` was rolled back with the version bump.
    assert migrate.current_revision(url) == "0001"
    assert run(_autogenerate_diff(url)) != []
    assert integrity_check(sqlite_path(url)) == "ok"
    with sqlite3.connect(sqlite_path(url)) as connection:  # at 0001: the model's columns differ
        assert connection.execute("SELECT count(*) FROM jobs").fetchone() == (3,)


def test_the_migrations_ship_inside_the_package():
    """script_location is a package resource, so `pip install .` must carry every migration file."""
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["storage"]
    shipped = {
        Path(path).relative_to(ROOT / "storage")
        for pattern in package_data
        for path in glob.glob(str(ROOT / "storage" / pattern))
    }
    needed = {
        path.relative_to(ROOT / "storage")
        for path in (ROOT / "storage" / "migrations").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert needed and needed <= shipped
    assert migrate.SCRIPT_LOCATION == "storage:migrations"
