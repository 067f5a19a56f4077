"""Coalesce status edits: at most one per interval, always the newest text, none after stop()."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class StatusThrottle:
    """Discord allows ~50 requests/s per bot; a progress message gets about one edit a second."""

    def __init__(self, edit: Callable[[str], Awaitable[None]], *, interval_s: float = 1.0) -> None:
        self._edit = edit
        self._interval_s = interval_s
        self._latest: str | None = None
        self._shown: str | None = None
        self._last_edit = float("-inf")
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._in_flight: asyncio.Future | None = None

    def set(self, text: str) -> None:
        self._latest = text
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="status-throttle")
        self._wake.set()

    async def stop(self) -> None:
        """Drop pending text and wait for an edit in flight, so the result never races it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._in_flight is not None and not self._in_flight.done():
            with contextlib.suppress(Exception):
                await self._in_flight

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            wait = self._last_edit + self._interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            text = self._latest
            if text is None or text == self._shown:
                continue
            self._last_edit = time.monotonic()
            self._shown = text
            # Shielded: stop() may cancel the loop, but an edit already sent must finish first.
            self._in_flight = asyncio.ensure_future(self._edit(text))
            try:
                await asyncio.shield(self._in_flight)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("a status edit failed", exc_info=True)
