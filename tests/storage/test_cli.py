"""`lcm-bot db …` as the bot wires it: every subcommand runs; every failure is one clear line."""

from __future__ import annotations

import argparse
import asyncio
import socket
from pathlib import Path

import pytest

from storage import cli
from storage.database import Database
from tests.storage.conftest import sqlite_url


def run_db(*argv: str, default_url: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lcm-bot")
    commands = parser.add_subparsers(dest="command", required=True)
    if default_url is None:
        cli.register_db_commands(commands)
    else:
        cli.register_db_commands(commands, default_url=lambda: default_url)
    args = parser.parse_args(["db", *argv])
    return args.func(args)


def test_every_db_subcommand_has_help_text():
    parser = argparse.ArgumentParser(prog="lcm-bot")
    db = cli.register_db_commands(parser.add_subparsers(dest="command"))
    (subcommands,) = [a for a in db._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {action.dest: action.help for action in subcommands._choices_actions}
    assert set(helps) == {"upgrade", "downgrade", "current", "backup", "restore", "prune"}
    assert all(helps.values())


def test_upgrade_backup_prune_downgrade_restore_from_the_command_line(tmp_path: Path, capsys):
    url = sqlite_url(tmp_path / "data" / "lcm-bot.sqlite3")

    assert run_db("upgrade", "--database-url", url) == 0
    assert capsys.readouterr().out == "database at revision 0004 (newest: 0004)\n"

    asyncio.run(_record_one_job(url))
    assert run_db("backup", str(tmp_path / "backup.sqlite3"), "--database-url", url) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"backup written to {tmp_path / 'backup.sqlite3'} (integrity ok;")
    assert "jobs 1" in out and "job_inputs 1" in out

    assert run_db("prune", "--older-than-days", "0", "--database-url", url) == 0
    assert capsys.readouterr().out == "deleted 1 jobs\n"

    assert run_db("downgrade", "-1", "--database-url", url) == 0
    assert capsys.readouterr().out == "database at revision 0003\n"
    assert run_db("current", default_url=url) == 0
    assert capsys.readouterr().out == "database at revision 0003 (newest: 0004)\n"
    assert run_db("upgrade", default_url=url) == 0
    capsys.readouterr()

    assert run_db("restore", str(tmp_path / "backup.sqlite3"), default_url=url) == 0
    assert "integrity ok" in capsys.readouterr().out
    async_count = asyncio.run(_count_jobs(url))
    assert async_count == 1  # the pruned job is back from the backup


async def _record_one_job(url: str) -> None:
    async with Database.open(url) as db:
        job = await db.jobs.record(
            user_id=1, channel_id=2, guild_id=None, command="img2img", parameters={}, seeds=[1],
            inputs={"image": b"png"},
        )  # fmt: skip
        await db.jobs.start(job.id)
        await db.jobs.finish(job.id, result_channel_id=2, result_message_id=3)


async def _count_jobs(url: str) -> int:
    async with Database.open(url) as db:
        return len(await db.jobs.recent(user_id=1))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["upgrade", "--database-url", f"postgresql+asyncpg://bot:hunter2@127.0.0.1:{_closed_port()}/x"],
            "error: cannot reach the database postgresql+asyncpg://bot:***@127.0.0.1:",
        ),
        (["upgrade", "--database-url", "mysql://h/db"], "error: DATABASE_URL uses 'mysql'"),
        (["upgrade", "--database-url", "::"], "error: DATABASE_URL is not a database URL"),
        (["upgrade", "nope", "--database-url", "sqlite:///{tmp}/a.sqlite3"], "error: Can't locate"),
        (["backup", "{tmp}/b.sqlite3", "--database-url", "sqlite:///{tmp}/none.sqlite3"],
         "error: there is no database file at"),
        (["backup", "{tmp}/b.sqlite3", "--database-url", "postgresql://h/db"],
         "error: online backup is built in for SQLite files only; for PostgreSQL use pg_dump"),
        (["prune", "--older-than-days", "3", "--database-url", "sqlite:///{tmp}/none.sqlite3"],
         "error: there is no database file at"),
        (["prune", "--older-than-days", "3", "--database-url", "sqlite:///{tmp}/empty.sqlite3"],
         "error: database sqlite+aiosqlite:///"),
        (["restore", "{tmp}/none.sqlite3", "--database-url", "postgresql://h/db"],
         "error: restore is built in for SQLite files only"),
    ],
)  # fmt: skip
def test_failures_are_one_line_without_a_traceback(tmp_path: Path, capsys, argv, expected):
    (tmp_path / "empty.sqlite3").touch()
    argv = [part.replace("{tmp}", str(tmp_path)) for part in argv]

    assert run_db(*argv) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(expected), captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert "hunter2" not in captured.err


def test_a_database_without_tables_is_told_to_upgrade(tmp_path: Path, capsys):
    (tmp_path / "empty.sqlite3").touch()
    url = sqlite_url(tmp_path / "empty.sqlite3")
    assert run_db("prune", "--older-than-days", "1", "--database-url", url) == 1
    assert (
        capsys.readouterr()
        .err.rstrip()
        .endswith("no such table: jobs; run `lcm-bot db upgrade` first")
    )


def test_the_url_comes_from_the_environment_by_default(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://h/db")
    assert cli.url_from_environment() == "postgresql+asyncpg://h/db"
    monkeypatch.delenv("DATABASE_URL")
    assert cli.url_from_environment() == "sqlite+aiosqlite:///./data/lcm-bot.sqlite3"


def test_the_plain_functions_return_what_they_did(tmp_path: Path):
    url = sqlite_url(tmp_path / "plain.sqlite3")
    assert cli.upgrade(url) == "0004"
    assert cli.downgrade(url, "base") is None
    assert cli.upgrade(url, "0001") == "0001"
    assert cli.upgrade(url) == "0004"
    assert cli.prune(url, 30) == 0
    report = cli.backup(url, tmp_path / "copy.sqlite3")
    assert report.row_counts["jobs"] == 0 and report.path.is_file()


def test_postgresql_errors_name_the_problem(postgres, empty_postgres_database, capsys):
    missing = postgres.url("no_such_database")
    assert run_db("upgrade", "--database-url", missing) == 1
    error = capsys.readouterr().err
    assert 'database "no_such_database" does not exist' in error
    assert "lcm-bot db upgrade" not in error and error.count("\n") == 1

    assert run_db("prune", "--older-than-days", "1", "--database-url", empty_postgres_database) == 1
    assert (
        capsys.readouterr()
        .err.rstrip()
        .endswith('relation "jobs" does not exist; run `lcm-bot db upgrade` first')
    )

    assert run_db("upgrade", "--database-url", empty_postgres_database) == 0
    assert run_db("prune", "--older-than-days", "1", "--database-url", empty_postgres_database) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "deleted 0 jobs"
