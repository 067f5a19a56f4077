"""Storage fixtures: migrated SQLite files and a real PostgreSQL server, copied from templates."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from storage import migrate
from storage.database import Database
from tests.storage.postgres import PostgresServer, PostgresUnavailable, unavailable

BACKENDS = ("sqlite", "postgresql")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; tests get copies (migrating each time costs ~0.2 s)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrate.upgrade(sqlite_url(path), "head")
    return path


@pytest.fixture
def sqlite_database(tmp_path: Path, sqlite_template: Path) -> str:
    """The URL of a fresh, migrated SQLite file."""
    path = tmp_path / "lcm-bot.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return sqlite_url(path)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session: skipped where there is none, unless CI requires it."""
    try:
        import asyncpg  # noqa: F401 (the driver the URL names)

        server = PostgresServer.start()
    except (ImportError, PostgresUnavailable) as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> str:
    postgres.psql("CREATE DATABASE lcm_template")
    migrate.upgrade(postgres.url("lcm_template"), "head")
    return "lcm_template"


_database_names = itertools.count()


@pytest.fixture
def postgres_database(postgres: PostgresServer, postgres_template: str) -> str:
    """The URL of a fresh, migrated PostgreSQL database (a copy of the template)."""
    name = f"lcm_test_{next(_database_names)}"
    postgres.psql(f"CREATE DATABASE {name} TEMPLATE {postgres_template}")
    return postgres.url(name)


@pytest.fixture
def empty_postgres_database(postgres: PostgresServer) -> str:
    name = f"lcm_empty_{next(_database_names)}"
    postgres.psql(f"CREATE DATABASE {name}")
    return postgres.url(name)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database on each backend: the repository suite runs on both."""
    fixture = {"sqlite": "sqlite_database", "postgresql": "postgres_database"}[request.param]
    return request.getfixturevalue(fixture)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database.open(database_url)
    try:
        yield database
    finally:
        await database.close()
