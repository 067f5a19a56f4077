"""`lcm-bot db …`: migrate, back up, restore and prune, as plain functions and argparse commands."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from alembic.util.exc import CommandError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from storage import migrate
from storage.backup import BackupReport, restore_sqlite
from storage.backup import backup as backup_database
from storage.engine import (
    DEFAULT_URL,
    create_session_factory,
    database_url,
    engine_for,
    sqlite_path,
)
from storage.errors import StorageError
from storage.retention import prune_history


def upgrade(url: str, revision: str = "head") -> str | None:
    """Migrate the database up to `revision`; return the revision it is at afterwards."""
    migrate.upgrade(url, revision)
    return migrate.current_revision(url)


def downgrade(url: str, revision: str) -> str | None:
    """Migrate the database down to `revision` ("-1", "0001", "base"); return where it ends up."""
    migrate.downgrade(url, revision)
    return migrate.current_revision(url)


def backup(url: str, path: str | Path) -> BackupReport:
    """Online backup of a SQLite database to `path` while the bot runs; PostgreSQL: use pg_dump."""
    return backup_database(url, Path(path))


def restore(url: str, path: str | Path) -> dict[str, int]:
    """Write the backup at `path` over the SQLite database at `url`; stop the bot first."""
    target = sqlite_path(url)
    if target is None:
        raise StorageError(
            "restore is built in for SQLite files only; for PostgreSQL use pg_restore"
        )
    return restore_sqlite(Path(path), target)


def prune(url: str, older_than_days: float) -> int:
    """Delete finished history older than `older_than_days`; return how many jobs went."""

    path = sqlite_path(url)
    if path is not None and not path.is_file():
        raise StorageError(f"there is no database file at {path}")

    async def run() -> int:
        engine = engine_for(url)
        try:
            return await prune_history(create_session_factory(engine), older_than_days)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def url_from_environment() -> str:
    """DATABASE_URL from the environment, else the default SQLite file under ./data."""
    return os.environ.get("DATABASE_URL") or DEFAULT_URL


def register_db_commands(
    subparsers: argparse._SubParsersAction,
    *,
    default_url: Callable[[], str] = url_from_environment,
) -> argparse.ArgumentParser:
    """Add `db` with its subcommands; each sets `func(args) -> exit code`.

    `default_url` is asked only when a command runs without --database-url, so the bot can pass
    `lambda: Settings().database_url` and have `.env` honoured.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        metavar="URL",
        help="SQLAlchemy URL (default: DATABASE_URL, else the SQLite file under ./data)",
    )
    db = subparsers.add_parser(
        "db",
        help="migrate, back up, restore or prune the database",
        description="Database operations. The URL comes from DATABASE_URL unless --database-url.",
    )
    commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")

    up = commands.add_parser(
        "upgrade", parents=[common], help="apply migrations (run after every update)"
    )
    up.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    up.set_defaults(func=_command(default_url, _upgrade))

    down = commands.add_parser(
        "downgrade", parents=[common], help="undo migrations down to a revision"
    )
    down.add_argument("revision", help='target revision: "-1" for one step, an id, or "base"')
    down.set_defaults(func=_command(default_url, _downgrade))

    current = commands.add_parser(
        "current", parents=[common], help="show the database's revision and the newest one"
    )
    current.set_defaults(func=_command(default_url, _current))

    save = commands.add_parser(
        "backup", parents=[common], help="copy the SQLite database to PATH while the bot runs"
    )
    save.add_argument("path", type=Path, help="the backup file to write")
    save.set_defaults(func=_command(default_url, _backup))

    load = commands.add_parser(
        "restore", parents=[common], help="write a backup over the SQLite database (bot stopped)"
    )
    load.add_argument("path", type=Path, help="a file written by `db backup`")
    load.set_defaults(func=_command(default_url, _restore))

    trim = commands.add_parser(
        "prune", parents=[common], help="delete finished job history older than some days"
    )
    trim.add_argument(
        "--older-than-days",
        type=float,
        required=True,
        metavar="DAYS",
        help="delete finished, failed and cancelled jobs created more than DAYS days ago",
    )
    trim.set_defaults(func=_command(default_url, _prune))
    return db


def _upgrade(url: str, args: argparse.Namespace) -> str:
    return f"database at revision {upgrade(url, args.revision)} (newest: {migrate.head_revision()})"


def _downgrade(url: str, args: argparse.Namespace) -> str:
    return f"database at revision {downgrade(url, args.revision) or 'base (empty)'}"


def _current(url: str, args: argparse.Namespace) -> str:
    current = migrate.current_revision(url) or "none (run `lcm-bot db upgrade`)"
    return f"database at revision {current} (newest: {migrate.head_revision()})"


def _backup(url: str, args: argparse.Namespace) -> str:
    report = backup(url, args.path)
    counts = ", ".join(f"{table} {count}" for table, count in report.row_counts.items())
    return f"backup written to {report.path} (integrity ok; rows: {counts})"


def _restore(url: str, args: argparse.Namespace) -> str:
    counts = restore(url, args.path)
    rows = ", ".join(f"{table} {count}" for table, count in counts.items())
    return f"restored {args.path} into {sqlite_path(url)} (integrity ok; rows: {rows})"


def _prune(url: str, args: argparse.Namespace) -> str:
    return f"deleted {prune(url, args.older_than_days)} jobs"


def _command(
    default_url: Callable[[], str], action: Callable[[str, argparse.Namespace], str]
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            url = args.database_url or default_url()
            print(action(url, args))
            return 0
        except Exception as exc:  # every failure becomes one line; no traceback for operators
            print(f"error: {explain(exc, args.database_url or default_url())}", file=sys.stderr)
            return 1

    return run


# SQLite's and PostgreSQL's words for a schema that was never migrated.
_MISSING_TABLE = re.compile(r"no such table|relation \".*\" does not exist")


def explain(exc: BaseException, url: str) -> str:
    """One line an operator can act on, for any failure of a db command."""
    try:
        where = database_url(url).render_as_string(hide_password=True)
    except StorageError:
        where = "DATABASE_URL"
    if isinstance(exc, StorageError | CommandError):
        return str(exc)
    if isinstance(exc, DBAPIError):
        detail = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        if _MISSING_TABLE.search(detail):
            detail += "; run `lcm-bot db upgrade` first"
        return f"database {where}: {detail}"
    if isinstance(exc, SQLAlchemyError):
        return f"database {where}: {str(exc).splitlines()[0]}"
    if isinstance(exc, OSError):
        return f"cannot reach the database {where}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"
