"""The engine: URL handling, SQLite pragmas on every connection, BEGIN IMMEDIATE for writes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.database import Database
from storage.engine import (
    BUSY_TIMEOUT_MS,
    database_url,
    engine_for,
    read_session,
    sqlite_path,
    write_session,
)
from storage.errors import StorageError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///data/x.sqlite3", "sqlite+aiosqlite:///data/x.sqlite3"),
        ("sqlite+aiosqlite:////abs/x.sqlite3", "sqlite+aiosqlite:////abs/x.sqlite3"),
        ("postgresql://u:p@h:5433/db", "postgresql+asyncpg://u:p@h:5433/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_urls_get_the_async_driver(given: str, expected: str):
    assert database_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("mysql://h/db", "use sqlite\\+aiosqlite"),
        ("postgresql+psycopg2://h/db", "use sqlite\\+aiosqlite"),
        ("not a url", "not a database URL"),
    ],
)
def test_unsupported_urls_are_refused_with_the_supported_forms(given: str, message: str):
    with pytest.raises(StorageError, match=message):
        database_url(given)


def test_sqlite_path_is_the_file_or_none():
    assert sqlite_path("sqlite:///./data/lcm.sqlite3") == Path("./data/lcm.sqlite3")
    assert sqlite_path("sqlite+aiosqlite://") is None
    assert sqlite_path("postgresql+asyncpg://h/db") is None


async def test_the_default_data_folder_is_created(tmp_path: Path):
    engine = engine_for(f"sqlite+aiosqlite:///{tmp_path}/new/folder/db.sqlite3")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert (tmp_path / "new" / "folder" / "db.sqlite3").is_file()


async def test_every_sqlite_connection_gets_wal_busy_timeout_and_foreign_keys(sqlite_database: str):
    db = Database.open(sqlite_database)
    pragmas = "journal_mode", "busy_timeout", "foreign_keys", "synchronous"
    seen = []

    async def read_pragmas() -> None:
        async with read_session(db.sessions) as session:
            values = [(await session.execute(text(f"PRAGMA {p}"))).scalar() for p in pragmas]
            await asyncio.sleep(0.05)  # hold the connection so the pool opens several
            seen.append(tuple(values))

    try:
        await asyncio.gather(*(read_pragmas() for _ in range(4)))
    finally:
        await db.close()
    assert seen == [("wal", BUSY_TIMEOUT_MS, 1, 2)] * 4  # synchronous 2 = FULL


def _try_to_write(path: Path) -> str:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return "got the write lock"
    except sqlite3.OperationalError as exc:
        return str(exc)
    finally:
        other.close()


async def test_a_write_session_holds_the_write_lock_from_its_first_statement(sqlite_database: str):
    path = sqlite_path(sqlite_database)
    db = Database.open(sqlite_database)
    try:
        async with write_session(db.sessions) as session:
            # Nothing written yet: with a plain deferred BEGIN the lock would still be free.
            await session.execute(text("SELECT count(*) FROM jobs"))
            inside = await asyncio.to_thread(_try_to_write, path)
        async with read_session(db.sessions) as session:
            await session.execute(text("SELECT count(*) FROM jobs"))
            while_reading = await asyncio.to_thread(_try_to_write, path)
    finally:
        await db.close()
    assert inside == "database is locked"
    assert while_reading == "got the write lock"


async def test_a_failed_write_session_rolls_back_everything(sqlite_database: str):
    db = Database.open(sqlite_database)
    try:
        with pytest.raises(RuntimeError):
            async with write_session(db.sessions) as session:
                await session.execute(
                    text("INSERT INTO users (id, created_at, updated_at) VALUES (1, '', '')")
                )
                raise RuntimeError("the bot failed halfway")
        assert await db.users.get(1) is None
    finally:
        await db.close()
