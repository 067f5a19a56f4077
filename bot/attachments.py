"""Fetch an uploaded attachment: only the URL Discord handed us, size checked before and during."""

from __future__ import annotations

import aiohttp
import discord

from bot.settings import Settings
from generation.errors import InvalidImage

_CHUNK = 64 * 1024


async def read_attachment(
    session: aiohttp.ClientSession,
    attachment: discord.Attachment,
    *,
    parameter: str,
    max_bytes: int,
) -> bytes:
    """The attachment's bytes, refusing anything over ``max_bytes`` before and while reading.

    The URL comes from Discord's interaction payload (``attachment.url``), never from user text,
    so the bot only ever talks to Discord's CDN. Reading stops at ``max_bytes`` even if the
    declared size lied, so memory stays bounded.
    """
    limit = f"files up to {max_bytes / 2**20:.0f} MiB"
    if attachment.size > max_bytes:
        size = attachment.size / 2**20
        raise InvalidImage(parameter, f"{attachment.filename} is {size:.1f} MiB", limit)
    chunks, total = [], 0
    try:
        async with session.get(attachment.url) as response:
            if response.status != 200:
                raise InvalidImage(parameter, f"Discord answered {response.status} for the upload")
            async for chunk in response.content.iter_chunked(_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise InvalidImage(parameter, "the download is larger than declared", limit)
                chunks.append(chunk)
    except aiohttp.ClientError as exc:
        raise InvalidImage(parameter, f"the upload could not be downloaded ({exc})") from exc
    return b"".join(chunks)


class UploadReader:
    """Reads uploads with one HTTP session, opened when the bot starts and closed when it stops."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings  # LCM_MAX_UPLOAD_MB, read at each upload
        self._session: aiohttp.ClientSession | None = None

    def open(self) -> None:
        # aiohttp wants its session made inside the running event loop, hence not in __init__.
        if self._session is None:
            self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def read(self, attachment: discord.Attachment, *, parameter: str) -> bytes:
        """The upload's bytes (see ``read_attachment``)."""
        if self._session is None:
            raise RuntimeError("UploadReader.open() was not called")
        return await read_attachment(
            self._session,
            attachment,
            parameter=parameter,
            max_bytes=int(self._settings.lcm_max_upload_mb * 2**20),
        )
