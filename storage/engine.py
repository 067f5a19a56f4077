"""The async engine and session factory for a DATABASE_URL, with SQLite set up for many writers."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from storage.errors import StorageError

DEFAULT_URL = "sqlite+aiosqlite:///./data/lcm-bot.sqlite3"

# How long a SQLite connection waits for another writer before giving up with "database is locked".
# Transactions here last milliseconds, so this is only reached if something holds the lock for ages.
BUSY_TIMEOUT_MS = 30_000

# FULL: a commit that returned survives a power cut too, not just a process crash. The bot writes a
# few rows per image, far below what one fsync per commit allows.
SQLITE_SYNCHRONOUS = "FULL"

# Execution option that turns the next SQLite BEGIN into BEGIN IMMEDIATE (see `write_session`).
_IMMEDIATE = "lcm_begin_immediate"

# Operators paste URLs from other tools; the sync driver names map onto the async drivers we ship.
_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_SUPPORTED = ("sqlite+aiosqlite", "postgresql+asyncpg")


def database_url(url: str | URL) -> URL:
    """Parse a DATABASE_URL and pick the async driver; refuse what the repositories cannot use."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # ArgumentError / ValueError with SQLAlchemy's own wording
        raise StorageError(f"DATABASE_URL is not a database URL: {exc}") from None
    parsed = parsed.set(drivername=_ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername))
    if parsed.drivername not in _SUPPORTED:
        raise StorageError(
            f"DATABASE_URL uses {parsed.drivername!r}; "
            "use sqlite+aiosqlite:///path/to/file.sqlite3 "
            "or postgresql+asyncpg://user:password@host/dbname"
        )
    return parsed


def sqlite_path(url: str | URL) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = database_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def engine_for(
    url: str | URL, *, enforce_foreign_keys: bool = True, **engine_options: Any
) -> AsyncEngine:
    """An AsyncEngine for `url`. On SQLite every connection gets WAL, busy_timeout and foreign keys.

    `enforce_foreign_keys=False` is for migrations only: SQLite batch mode rebuilds a table by
    dropping it, and with foreign keys on that drop would cascade into the rows that point at it.
    """
    parsed = database_url(url)
    path = sqlite_path(parsed)
    if path is not None:
        # The default URL points into ./data, which a fresh checkout does not have yet.
        path.parent.mkdir(parents=True, exist_ok=True)
    if path is not None and "poolclass" not in engine_options:
        # Hand out the connection used last: its page cache is the warmest. Rotating through the
        # pool makes each write start by re-reading pages another connection changed.
        engine_options.setdefault("pool_use_lifo", True)
    engine = _create_async_engine(parsed, **engine_options)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine, enforce_foreign_keys=enforce_foreign_keys)
    return engine


def _configure_sqlite(engine: AsyncEngine, *, enforce_foreign_keys: bool) -> None:
    # SQLAlchemy's recipe for correct SQLite transactions: stop the driver from issuing BEGIN itself
    # (it skips SELECT and DDL) and emit BEGIN from the engine's begin event instead.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if enforce_foreign_keys else 'OFF'}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: rows handed back from a finished transaction stay readable without a
    # lazy load, which async code cannot do.
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def write_session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One short write transaction, committed on exit and rolled back on error.

    On SQLite it starts with BEGIN IMMEDIATE: a deferred transaction that reads first and writes
    later cannot wait for the write lock (SQLite answers "database is locked" at once, whatever
    busy_timeout says), while BEGIN IMMEDIATE waits for it up front. Never nest two of these in one
    task: the second would wait for the first.
    """
    async with _in_process_turn(sessions), sessions() as session, session.begin():
        await session.connection(execution_options={_IMMEDIATE: True})
        yield session


# One asyncio.Lock per SQLite engine (see `_in_process_turn`); weak keys: it goes with the engine.
_write_locks: weakref.WeakKeyDictionary[AsyncEngine, asyncio.Lock] = weakref.WeakKeyDictionary()


def _in_process_turn(sessions: async_sessionmaker[AsyncSession]) -> AbstractAsyncContextManager:
    """Queue this process's SQLite writers in order before they ask SQLite for its write lock.

    SQLite admits one writer and makes the others poll with growing sleeps (up to 100 ms each), so
    50 coroutines contending inside SQLite see p99 waits of seconds; queued here first come first
    served, they wait only for the writes ahead of them. Other processes (the CLI) still meet
    busy_timeout. PostgreSQL locks rows, not the database, so its writers go straight through.
    """
    engine = sessions.kw.get("bind")
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "sqlite":
        return nullcontext()
    lock = _write_locks.get(engine)
    if lock is None:
        lock = _write_locks[engine] = asyncio.Lock()
    return lock


@asynccontextmanager
async def read_session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One read transaction: a consistent snapshot that never takes SQLite's write lock."""
    async with sessions() as session, session.begin():
        yield session
