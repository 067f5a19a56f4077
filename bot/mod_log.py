"""The moderators' log: one message per event in the server's log channel, journaled first.

Each event is written to the journal (an outbox, keyed by the event) before it is posted, and
posted with the entry's id as the message nonce. So an event recorded twice keeps one entry; an
entry journaled just before a stop is posted at the next start; and an entry posted but not yet
marked when the bot died is posted again with the same nonce, which Discord answers with the
message it already has (it remembers a nonce for a few minutes; after a longer outage such an
entry can appear twice).
"""

from __future__ import annotations

import asyncio
import io
import logging

import discord

from bot.delivery_targets import NO_PINGS, PostedMessage
from bot.jobs import JobContext
from bot.mod_log_entries import log_picture, message_link, posted_text, thumbnail
from generation.requests import GenerationResult
from storage.models import ModLogEntry
from storage.repositories.mod_log import ModLogRepository
from storage.repositories.moderation import ModerationRepository

log = logging.getLogger(__name__)

# A channel the bot cannot post in (deleted, permissions taken away) is tried at this many starts.
GIVE_UP_AFTER = 3
MAX_CONTENT = 1900  # under Discord's 2000 characters, with room for the header


def nonce_of(entry_id: int) -> str:
    """Discord takes nonces of up to 25 characters."""
    return f"lcm-log-{entry_id}"


class ModLog:
    """Records events for each server's log channel and posts them once."""

    def __init__(
        self,
        client: discord.Client,
        moderation: ModerationRepository,
        entries: ModLogRepository,
    ) -> None:
        self._client = client
        self._moderation = moderation
        self._entries = entries
        self._posting: set[int] = set()  # entry ids being posted right now, by any task

    async def record(
        self, guild_id: int | None, event_key: str, content: str, thumbnail: bytes | None = None
    ) -> None:
        """Journal the event ``event_key`` and post it; never raises (the event itself stands).

        Nothing is kept for a server without a log channel, or for direct messages.
        """
        if not guild_id:
            return
        try:
            settings = await self._moderation.settings(guild_id)
            if settings.log_channel_id is None:
                return
            entry = await self._entries.record(
                guild_id=guild_id,
                channel_id=settings.log_channel_id,
                event_key=event_key,
                content=content[:MAX_CONTENT],
                thumbnail=thumbnail,
            )
        except Exception:
            log.exception("could not journal moderators' log entry %s", event_key)
            return
        if entry is not None:
            await self._post(entry)

    async def deliver_pending(self) -> int:
        """Post what was journaled and never posted (at start); returns how many went out."""
        try:
            pending = await self._entries.pending()
        except Exception:
            log.exception("could not read the moderators' log journal")
            return 0
        posted = 0
        for entry in pending:
            posted += await self._post(entry)
        if pending:
            log.info("moderators' log: %d of %d journaled entries posted", posted, len(pending))
        return posted

    async def _post(self, entry: ModLogEntry) -> bool:
        if entry.id in self._posting:
            return False  # another task is posting it: once is enough
        self._posting.add(entry.id)
        try:
            channel = self._client.get_partial_messageable(entry.channel_id)
            files = []
            if entry.thumbnail:
                files.append(discord.File(io.BytesIO(entry.thumbnail), "thumbnail.png"))
            message = await channel.send(
                entry.content, files=files, nonce=nonce_of(entry.id), allowed_mentions=NO_PINGS
            )
            await self._entries.posted(entry.id, message.id)
            return True
        except discord.HTTPException as exc:
            gave_up = await self._entries.attempt_failed(entry.id, give_up_after=GIVE_UP_AFTER)
            log.warning(
                "moderators' log: could not post entry %s in channel %s (%s)%s",
                entry.id,
                entry.channel_id,
                exc,
                "; given up" if gave_up else "; tried again at the next start",
            )
            return False
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("moderators' log: posting entry %s failed", entry.id)
            return False
        finally:
            self._posting.discard(entry.id)

    async def result_posted(
        self,
        job_id: int,
        context: JobContext,
        result: GenerationResult,
        posted: PostedMessage,
        shown: bytes | None,
        withheld: int,
    ) -> None:
        """A result went out: its entry, with a thumbnail of ``shown`` (see log_picture)."""
        await self.sheet_posted(
            job_id, context, result.request.prompt, posted, shown, withheld=withheld
        )

    async def render_posted(
        self, job_id: int, context: JobContext, result: GenerationResult, posted: PostedMessage
    ) -> None:
        """A picture shown in place in a public message (not posted through JobService)."""
        shown = await asyncio.to_thread(log_picture, result, context.channel_nsfw)
        await self.sheet_posted(job_id, context, result.request.prompt, posted, shown)

    async def sheet_posted(
        self,
        job_id: int,
        context: JobContext,
        prompt: str,
        posted: PostedMessage,
        shown: bytes | None,
        *,
        withheld: int = 0,
        key: str = "posted",
    ) -> None:
        """A result (or a sweep's finished sheet, ``key`` "sheet", under its first job's id)
        went out."""
        if not context.guild_id:
            return
        small = await asyncio.to_thread(thumbnail, shown) if shown else None
        content = posted_text(
            job_id=job_id,
            user_id=context.user_id,
            command=context.command,
            prompt=prompt,
            link=message_link(context.guild_id, posted.channel_id, posted.message_id),
            withheld=withheld,
        )
        await self.record(context.guild_id, f"{key}:{job_id}", content, small)
