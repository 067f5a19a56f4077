"""A throwaway PostgreSQL server for the tests, from the Debian package's initdb and pg_ctl."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

REQUIRE_ENV = "LCM_REQUIRE_POSTGRES"
INSTALL_HINT = "apt-get install -y postgresql"


class PostgresUnavailable(RuntimeError):
    """The server cannot be started here; the reason says what is missing."""


def find_bindir(pattern: str = "/usr/lib/postgresql/*/bin/initdb", path: str | None = None) -> Path:
    """The newest /usr/lib/postgresql/N/bin with initdb (Debian's layout), else initdb on PATH."""
    candidates = sorted(
        glob.glob(pattern),
        key=lambda found: int(Path(found).parts[-3]) if Path(found).parts[-3].isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    on_path = shutil.which("initdb", path=path)
    if on_path:
        return Path(on_path).resolve().parent
    raise PostgresUnavailable(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found; {INSTALL_HINT}"
    )


def unavailable(reason: str) -> NoReturn:
    """Skip a PostgreSQL test with the reason, or fail it where CI set LCM_REQUIRE_POSTGRES=1."""
    reason = f"PostgreSQL tests need a server and asyncpg ({INSTALL_HINT}): {reason}"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason}; set {REQUIRE_ENV}=1 to make this a failure")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int
    run_as: str | None  # PostgreSQL refuses to run as root; tests running as root use this account
    user: str = "lcm"

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = find_bindir()
        run_as = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "running as root and there is no 'postgres' account to run the server as"
                ) from None
            run_as = "postgres"
        root = Path(tempfile.mkdtemp(prefix="lcm-pg-"))
        if run_as:
            shutil.chown(root, user=run_as)
        server = cls(bindir=bindir, root=root, port=_free_port(), run_as=run_as)
        try:
            server._run(
                "initdb", "-D", str(root / "data"), "-U", server.user, "-A", "trust",
                "-E", "UTF8", "--locale=C", "--no-sync",
            )  # fmt: skip
            options = (
                f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 "
                # Throwaway data: skip the fsyncs that would only slow the tests down.
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            server._run(
                "pg_ctl", "-D", str(root / "data"), "-l", str(root / "server.log"),
                "-o", options, "-w", "-t", "60", "start",
            )  # fmt: skip
        except BaseException:
            server.stop()
            raise
        return server

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        return self._run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", database,
            "-v", "ON_ERROR_STOP=1", "-tAc", sql,
        )  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if (self.root / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> str:
        command = [str(self.bindir / program), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"{program} failed ({done.returncode}): {done.stderr.strip()}\n{tail}"
            )
        return done.stdout
