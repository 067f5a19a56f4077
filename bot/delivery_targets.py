"""Where a job's progress and result go: the interaction while its token lives, else the channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import discord

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
# Stop using the interaction token a little before Discord does, so a slow upload cannot straddle
# the 15-minute mark.
TOKEN_MARGIN = timedelta(seconds=30)


@dataclass(frozen=True)
class PostedMessage:
    channel_id: int
    message_id: int


class ChannelTarget:
    """Posts into a channel, mentioning the user: used after restarts and once the token expired."""

    def __init__(self, channel: discord.abc.Messageable, user_id: int, *, label: str = "") -> None:
        self._channel = channel
        self._user_id = user_id
        # In a shared channel every status line says whose job it is (e.g. "Job 12, restarted").
        self._label = label
        self._status: discord.Message | None = None
        self._status_lock = asyncio.Lock()  # one status message, even when two updates race

    @property
    def mention(self) -> discord.AllowedMentions:
        return discord.AllowedMentions(
            users=[discord.Object(self._user_id)], everyone=False, roles=False, replied_user=False
        )

    async def show_status(self, text: str) -> None:
        text = f"{self._label}: {text}" if self._label else text
        async with self._status_lock:
            try:
                if self._status is None:
                    self._status = await self._channel.send(text, allowed_mentions=NO_PINGS)
                else:
                    await self._status.edit(content=text, allowed_mentions=NO_PINGS)
            except discord.NotFound:
                self._status = None  # deleted by someone: the next status starts a new message

    async def post(self, content: str, *, files=(), view=None) -> PostedMessage:
        message = await self._channel.send(
            f"<@{self._user_id}> {content}",
            files=list(files),
            view=view,
            allowed_mentions=self.mention,
        )
        await self._clear_status()
        return PostedMessage(message.channel.id, message.id)

    async def notify(self, text: str) -> None:
        await self._channel.send(f"<@{self._user_id}> {text}", allowed_mentions=self.mention)
        await self._clear_status()

    async def notify_or_log(self, text: str) -> bool:
        """notify(), but a channel that refuses (403, 404, other HTTP errors) is logged, not raised.

        For start-up recovery: one channel the bot may no longer post in must not keep the bot
        from starting, nor the other channels' users from being told.
        """
        try:
            await self.notify(text)
        except discord.HTTPException as exc:
            channel_id = getattr(self._channel, "id", "?")
            log.warning("could not tell user %s in channel %s: %s", self._user_id, channel_id, exc)
            return False
        return True

    async def _clear_status(self) -> None:
        async with self._status_lock:
            if self._status is not None:
                with contextlib.suppress(discord.HTTPException):
                    await self._status.delete()
                self._status = None


class InteractionTarget:
    """Progress privately in the deferred (ephemeral) response; the result publicly as a follow-up.

    The private status line spares the channel a stream of edits. The deferred placeholder must be
    resolved (edited) before the result goes out: while it is still "thinking", Discord turns the
    first follow-up into it, private. Once the 15-minute token has expired (or Discord says so: 401,
    code 50027) the result goes to the channel with a mention instead.
    """

    def __init__(self, interaction: discord.Interaction) -> None:
        self._interaction = interaction
        self._resolved = False
        self._status_gone = False
        self._fallback: ChannelTarget | None = None

    def _token_alive(self) -> bool:
        return datetime.now(UTC) < self._interaction.expires_at - TOKEN_MARGIN

    def _channel(self) -> ChannelTarget:
        if self._fallback is None:
            self._fallback = ChannelTarget(
                self._interaction.channel, self._interaction.user.id, label="Your job"
            )
        return self._fallback

    async def show_status(self, text: str) -> None:
        if self._status_gone or not self._token_alive():
            return  # progress is a courtesy: never worth a new message
        try:
            await self._interaction.edit_original_response(content=text, allowed_mentions=NO_PINGS)
            self._resolved = True
        except discord.NotFound:
            self._status_gone = True  # the user dismissed it
        except discord.HTTPException as exc:
            if not _token_expired(exc):
                log.warning("progress edit failed: %s", exc)

    async def post(self, content: str, *, files=(), view=None) -> PostedMessage:
        files = list(files)
        if self._token_alive():
            try:
                if not self._resolved:
                    await self.show_status("✅ Done")
                kwargs = {"view": view} if view is not None else {}
                message = await self._interaction.followup.send(
                    content, files=files, allowed_mentions=NO_PINGS, wait=True, **kwargs
                )
            except discord.HTTPException as exc:
                if not _token_expired(exc):
                    raise
            else:
                await self.show_status(f"✅ Done: {self._link(message)}")
                return PostedMessage(message.channel.id, message.id)
        for file in files:
            file.reset()  # a failed attempt may have read them
        return await self._channel().post(content, files=files, view=view)

    def _link(self, message: discord.Message) -> str:
        # Follow-up messages come back without their guild, so their own jump_url says "@me".
        guild = self._interaction.guild_id or "@me"
        return f"https://discord.com/channels/{guild}/{message.channel.id}/{message.id}"

    async def notify(self, text: str) -> None:
        """Failures and cancellations go to the user alone while the token lives."""
        if self._token_alive() and not self._status_gone:
            try:
                await self._interaction.edit_original_response(
                    content=text, allowed_mentions=NO_PINGS
                )
                return
            except discord.HTTPException as exc:
                if not (_token_expired(exc) or isinstance(exc, discord.NotFound)):
                    raise
        await self._channel().notify(text)


def _token_expired(exc: discord.HTTPException) -> bool:
    return exc.status == 401 or exc.code == 50027
