"""Waits for bot processes that fail on a stall, not on a wall clock: a busy machine is slow."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.discord_double import DiscordDouble

STALL_S = 120.0


async def wait_with_progress(
    check: Callable[[], Awaitable[Any]],
    progress: Callable[[], Awaitable[Any]],
    *,
    stall_s: float = STALL_S,
    what: str,
):
    """Wait for ``check()`` to return something true; the deadline moves on whenever
    ``progress()`` changes, so only a stall of ``stall_s`` fails the test."""
    last, since = await progress(), time.monotonic()
    while not (found := await check()):
        now = await progress()
        if now != last:
            last, since = now, time.monotonic()
        assert time.monotonic() - since < stall_s, f"no progress for {stall_s:.0f} s: {what}"
        await asyncio.sleep(0.1)
    return found


def bot_progress(log: Path, double: DiscordDouble | None = None):
    """Signs that a bot process is alive and working: its log grows, or it talks to Discord
    (progress edits come every step)."""

    async def progress():
        size = log.stat().st_size if log.exists() else 0
        return size, len(double.calls) if double is not None else 0

    return progress
