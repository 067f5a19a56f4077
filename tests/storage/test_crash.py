"""kill -9 a writer at 200 random points: the file stays intact and every committed row is there."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from sqlalchemy.orm import configure_mappers

from storage.backup import integrity_check
from storage.database import Database
from storage.engine import sqlite_path
from storage.models import PresetScope

KILLS = 200
# Each kill comes during the child's n-th write, n uniform over this many (a job's record, start
# and finish and a preset write make a cycle of four, after one recovery), then after a jitter
# short against a write. Counted in writes, not seconds: on a loaded machine a window in seconds
# lands before the first write, and the kills test nothing.
KILL_AT_WRITES = 10
KILL_JITTER_S = 0.002
UPLOAD = bytes(range(256)) * 8  # 2 KiB stands in for a PNG, so each job spans two tables

# Done once here, in the preloaded forkserver, instead of on the first write of every child.
configure_mappers()


def _write_until_killed(url: str, report: Connection, seed: int) -> None:
    """The child: the bot's write pattern, reporting each commit only after it returned."""
    asyncio.run(_write_forever(url, report, seed))


async def _write_forever(url: str, report: Connection, seed: int) -> None:
    def say(line: str) -> None:
        report.send_bytes(line.encode())

    db = Database.open(url)
    say("ready")
    say("begin recover")
    await db.recover_jobs()  # what the bot does first after a crash, so kills land in it too
    say("done")
    for n in range(1, 1_000_000):
        say("begin record")
        job = await db.jobs.record(
            user_id=seed, channel_id=1, guild_id=None, command="img2img",
            parameters={"prompt": f"child {seed} job {n}"}, seeds=[n], inputs={"image": UPLOAD},
        )  # fmt: skip
        say(f"job {job.id}")
        say("begin start")
        await db.jobs.start(job.id)
        say("done")
        say("begin finish")
        if await db.jobs.finish(job.id, result_channel_id=1, result_message_id=n):
            say(f"finished {job.id}")
        say("begin preset")
        name = f"child-{seed}-{n % 4}"
        await db.presets.upsert(PresetScope.USER, seed, name, {"n": n})
        say(f"preset {seed} {name} {n}")


@dataclass
class Reported:
    """What one child said had committed before it was killed."""

    jobs: set[int] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)
    presets: dict[tuple[int, str], int] = field(default_factory=dict)
    killed_inside_a_write: bool = False

    @classmethod
    def read(cls, reader: Connection, earlier: list[str]) -> Reported:
        """``earlier``: the lines already read before the kill; then the rest of the pipe."""
        reported, last = cls(), ""
        for line in _lines(reader, earlier):
            kind, *rest = line.split()
            if kind == "job":
                reported.jobs.add(int(rest[0]))
            elif kind == "finished":
                reported.finished.add(int(rest[0]))
            elif kind == "preset":
                reported.presets[(int(rest[0]), rest[1])] = int(rest[2])
            last = kind
        reported.killed_inside_a_write = last == "begin"
        return reported


def _lines(reader: Connection, earlier: list[str]) -> Iterator[str]:
    yield from earlier
    while True:
        try:
            yield reader.recv_bytes().decode()
        except (EOFError, OSError):  # the end, or a message cut off by the kill
            return


def _read_until_write(reader: Connection, n: int) -> list[str]:
    """The child's lines up to the start of its ``n``-th write (its n-th "begin")."""
    lines: list[str] = []
    while sum(line.startswith("begin") for line in lines) < n:
        lines.append(reader.recv_bytes().decode())
    return lines


def _problems(path: Path, reported: Reported) -> list[str]:
    problems = []
    verdict = integrity_check(path)
    if verdict != "ok":
        problems.append(f"integrity_check: {verdict}")
    with sqlite3.connect(path) as connection:
        statuses = dict(connection.execute("SELECT id, status FROM jobs"))
        presets = {
            (owner, name): parameters
            for owner, name, parameters in connection.execute(
                "SELECT owner_id, name, json_extract(parameters, '$.n') FROM presets"
            )
        }
        without_upload = connection.execute(
            "SELECT count(*) FROM jobs WHERE id NOT IN (SELECT job_id FROM job_inputs)"
        ).fetchone()[0]
    problems += [f"job {job_id} lost" for job_id in reported.jobs if job_id not in statuses]
    problems += [
        f"job {job_id} no longer finished"
        for job_id in reported.finished
        if statuses.get(job_id) != "finished"
    ]
    problems += [
        f"preset {key} at {presets.get(key)}, committed {n}"
        for key, n in reported.presets.items()
        if presets.get(key, -1) < n
    ]
    if without_upload:
        problems.append(f"{without_upload} jobs without their upload: a transaction was split")
    return problems


def _kill_rounds(
    url: str, rounds: int, write: Callable[[], int], pause: Callable[[], float]
) -> list[Reported]:
    """Kill a writing child ``rounds`` times, each during its ``write()``-th write + ``pause()``."""
    # forkserver with the storage stack preloaded: each child is a cheap fork of a process that
    # never ran threads, unlike the pytest process, which may hold torch's in a full test run.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    path = sqlite_path(url)
    results = []
    for seed in range(1, rounds + 1):
        reader, writer = context.Pipe(duplex=False)
        child = context.Process(target=_write_until_killed, args=(url, writer, seed), daemon=True)
        child.start()
        writer.close()
        assert reader.recv_bytes() == b"ready"
        earlier = _read_until_write(reader, write())
        time.sleep(pause())
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL, f"round {seed}: the child ended by itself"
        reported = Reported.read(reader, earlier)
        reader.close()
        problems = _problems(path, reported)
        assert problems == [], f"after kill {seed}: {problems[:10]}"
        results.append(reported)
    return results


@pytest.mark.slow
def test_200_kills_mid_write_lose_no_committed_row(sqlite_database: str):
    chance = random.Random(20260401)
    started = time.perf_counter()

    results = _kill_rounds(
        sqlite_database,
        KILLS,
        lambda: chance.randint(1, KILL_AT_WRITES),
        lambda: chance.uniform(0, KILL_JITTER_S),
    )

    elapsed = time.perf_counter() - started
    committed_jobs = sum(len(r.jobs) for r in results)
    inside = sum(r.killed_inside_a_write for r in results)
    print(
        f"\n{KILLS} kills in {elapsed:.1f} s: integrity ok every time; "
        f"{committed_jobs} committed jobs "
        f"and {sum(len(r.presets) for r in results)} preset writes checked; "
        f"{inside} kills landed inside a repository write"
    )
    # The test only means something if the kills hit real writing, not idle children.
    assert committed_jobs >= KILLS
    assert inside >= KILLS // 2
