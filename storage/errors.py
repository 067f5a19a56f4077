"""Errors storage raises on purpose, each with a message a person can act on."""

from __future__ import annotations


class StorageError(Exception):
    """A storage failure whose message is meant for the operator or the user, not a traceback."""


class PresetNotFound(StorageError, LookupError):
    """A preset name that does not exist in the scope it was looked up in."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__(f"there is no preset called {name!r} {where}")
        self.name = name


class InvalidValue(StorageError, ValueError):
    """A value a repository refuses before it reaches the database."""


class BackupNotSupported(StorageError):
    """The database behind the URL has no built-in online backup here."""
