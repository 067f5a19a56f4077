"""Online backup and restore of the SQLite file through SQLite's backup API, writers running."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from storage.engine import BUSY_TIMEOUT_MS, sqlite_path
from storage.errors import BackupNotSupported, StorageError


@dataclass(frozen=True)
class BackupReport:
    """A finished backup: where it is, and the row count of every table at the backup's snapshot."""

    path: Path
    row_counts: dict[str, int]


def backup(url: str, destination: Path) -> BackupReport:
    """Copy the database behind `url` to `destination` while it stays in use."""
    source = sqlite_path(url)
    if source is None:
        raise BackupNotSupported(
            "online backup is built in for SQLite files only; for PostgreSQL use pg_dump "
            "(for example: pg_dump --format=custom --file=lcm-bot.dump DBNAME)"
        )
    return backup_sqlite(source, destination)


def backup_sqlite(source: Path, destination: Path) -> BackupReport:
    """Back up one SQLite file into a new self-contained file, consistent to one moment.

    The copy and the row counts are taken inside one read transaction: in WAL mode that is a fixed
    snapshot, so writers carry on, and the counts describe exactly what the copy holds. The copy is
    written next to `destination` and renamed into place only after it passes integrity_check, so
    `destination` is never a half-written file.
    """
    source, destination = Path(source), Path(destination)
    if not source.is_file():
        raise StorageError(f"there is no database file at {source}")
    if destination.resolve() == source.resolve():
        raise StorageError("the backup must go to a different file than the database")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.partial")
    partial.unlink(missing_ok=True)

    reader = _connect(source)
    try:
        reader.execute("BEGIN")
        counts = _row_counts(reader)
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            reader.backup(copy)  # one step (pages=-1): the whole file from the snapshot above
            # A single file to carry around: no -wal file next to the backup.
            copy.execute("PRAGMA journal_mode=DELETE")
            _check_integrity(copy, partial)
        finally:
            copy.close()
        reader.execute("COMMIT")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        reader.close()
    os.replace(partial, destination)
    return BackupReport(destination, counts)


def restore_sqlite(backup_file: Path, target: Path) -> dict[str, int]:
    """Write a backup over the database at `target` (stop the bot first); return its row counts.

    Goes through SQLite's backup API rather than a file copy, so a -wal file left next to `target`
    can never be replayed over the restored pages.
    """
    backup_file, target = Path(backup_file), Path(target)
    if not backup_file.is_file():
        raise StorageError(f"there is no backup file at {backup_file}")
    source = _connect(backup_file)
    try:
        _check_integrity(source, backup_file)
        source.execute("BEGIN")
        counts = _row_counts(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        destination = _connect(target)
        try:
            source.backup(destination)
            destination.execute("PRAGMA journal_mode=WAL")
            _check_integrity(destination, target)
        finally:
            destination.close()
        source.execute("COMMIT")
    finally:
        source.close()
    return counts


def integrity_check(path: Path) -> str:
    """SQLite's own verdict on a file: "ok", or the problems it found."""
    connection = _connect(Path(path))
    try:
        return "\n".join(row[0] for row in connection.execute("PRAGMA integrity_check"))
    finally:
        connection.close()


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return connection


def _row_counts(connection: sqlite3.Connection) -> dict[str, int]:
    tables = [
        name
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    # Table names come from sqlite_schema itself, quoted as identifiers.
    return {
        name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in tables
    }


def _check_integrity(connection: sqlite3.Connection, path: Path) -> None:
    try:
        verdict = "\n".join(row[0] for row in connection.execute("PRAGMA integrity_check"))
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"{path} is not a readable SQLite database: {exc}") from None
    if verdict != "ok":
        raise StorageError(f"{path} failed integrity_check: {verdict}")
