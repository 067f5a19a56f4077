"""The moderators' log: one message per event in the server's log channel, journaled first.

Each event is written to the journal (an outbox, keyed by the event) before it is posted, and
posted with the entry's id as the message nonce. So an event recorded twice keeps one entry; an
entry journaled just before a stop is posted at the next start; one whose post failed is tried
again in retry rounds while the bot runs (RETRY_FIRST_S); and an entry posted but not yet
marked when the bot died is posted again with the same nonce, which Discord answers with the
message it already has (it remembers a nonce for a few minutes; after a longer outage such an
entry can appear twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging

import discord

from bot.delivery_targets import NO_PINGS, PostedMessage
from bot.jobs import JobContext
from bot.mod_log_entries import log_picture, message_link, posted_text, thumbnail
from generation.modes.requests import GenerationResult
from storage.models import ModLogEntry
from storage.repositories.mod_log import ModLogRepository
from storage.repositories.moderation import ModerationRepository

log = logging.getLogger(__name__)

# An entry that failed is tried again in retry rounds while the bot runs, the first this long
# after the failure, each later one twice as long after the one before (up to RETRY_MAX_S),
# and at every start. A channel the bot cannot post in (deleted, permissions taken away) is
# given up after this many failed tries: about half an hour of rounds.
RETRY_FIRST_S = 5.0
RETRY_MAX_S = 600.0
GIVE_UP_AFTER = 10
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
        self.retry_first_s = RETRY_FIRST_S
        self.retry_max_s = RETRY_MAX_S
        self._failed = asyncio.Event()  # a post failed: the retry task has work
        self._rounds = asyncio.Lock()  # one round over the journal at a time
        self._retrier: asyncio.Task | None = None

    def start(self) -> None:
        """Retry failed entries while the bot runs (after deliver_pending at start)."""
        if self._retrier is None:
            self._retrier = asyncio.create_task(self._retry_failed(), name="mod-log-retry")

    async def close(self) -> None:
        """Stop the retries; what is still pending is posted at the next start."""
        task, self._retrier = self._retrier, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _retry_failed(self) -> None:
        delay = 0.0  # 0: the first round after a success waits retry_first_s
        while True:
            await self._failed.wait()
            delay = min(delay * 2, self.retry_max_s) if delay else self.retry_first_s
            await asyncio.sleep(delay)
            self._failed.clear()  # a failure from now on sets it again
            try:
                done = await self._retry_round()
            except Exception:
                log.exception("moderators' log: a retry round failed")
                done = False
            if done:
                delay = 0.0
            else:
                self._failed.set()

    async def _retry_round(self) -> bool:
        """Post each entry that failed before (one try each: one attempt per round); True when
        none is left. An entry never tried yet belongs to the task that journaled it."""
        async with self._rounds:
            failed = [e for e in await self._entries.pending() if e.attempts > 0]
            posted = [await self._post(entry) for entry in failed]
        return all(posted)

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
        async with self._rounds:
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
            gave_up = await self._count_failure(entry)
            log.warning(
                "moderators' log: could not post entry %s in channel %s (%s)%s",
                entry.id,
                entry.channel_id,
                exc,
                "; given up" if gave_up else "; tried again in a while",
            )
            return False
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("moderators' log: posting entry %s failed", entry.id)
            await self._count_failure(entry)
            return False
        finally:
            self._posting.discard(entry.id)

    async def _count_failure(self, entry: ModLogEntry) -> bool:
        """Count a failed try and wake the retries; True when the entry is given up."""
        try:
            gave_up = await self._entries.attempt_failed(entry.id, give_up_after=GIVE_UP_AFTER)
        except Exception:
            log.exception("moderators' log: could not count a failed post of entry %s", entry.id)
            return False
        if not gave_up:
            self._failed.set()
        return gave_up

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
