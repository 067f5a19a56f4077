"""The double's world (application, guilds, channels, members) and everything it records."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from .limits import Rule, Upload

if TYPE_CHECKING:
    from .double import DiscordDouble

DISCORD_EPOCH_MS = 1420070400000

# What a freshly invited bot and an ordinary member can do; tests narrow or widen them.
DEFAULT_BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    use_application_commands=True,
    add_reactions=True,
).value
DEFAULT_MEMBER_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    use_application_commands=True,
).value
ALL_PERMISSIONS = discord.Permissions.all().value
ADMINISTRATOR = discord.Permissions(administrator=True).value


class Snowflakes:
    """Real-looking, increasing snowflakes so discord.py's created_at makes sense."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self) -> int:
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (millis << 22) | (next(self._counter) & 0x3FFFFF)


def iso(when: dt.datetime) -> str:
    return when.isoformat()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class User:
    id: int
    name: str
    bot: bool = False
    locale: str = "en-US"


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    bot_role_id: int
    premium_tier: int = 0
    upload_limit: int | None = None  # None: the double's Limits.upload_limit
    everyone_permissions: int = DEFAULT_MEMBER_PERMISSIONS
    bot_permissions: int = DEFAULT_BOT_PERMISSIONS
    locale: str = "en-US"
    roles: dict[int, Role] = field(default_factory=dict)


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    managed: bool = False


@dataclass
class Channel:
    """A text channel, a thread (``parent_id`` set) or a DM (``guild_id`` None)."""

    id: int
    name: str
    type: int  # 0 text, 1 DM, 11 public thread, 12 private thread
    guild_id: int | None = None
    parent_id: int | None = None
    nsfw: bool = False
    position: int = 0
    recipient_id: int | None = None
    owner_id: int | None = None
    # The bot's permissions here, when they differ from its guild-wide ones (an overwrite).
    bot_permissions: int | None = None

    @property
    def is_thread(self) -> bool:
        return self.type in (10, 11, 12)

    @property
    def is_dm(self) -> bool:
        return self.type == 1


@dataclass
class Member:
    guild_id: int
    user_id: int
    role_ids: list[int]
    joined_at: dt.datetime
    nick: str | None = None


@dataclass
class StoredAttachment:
    id: int
    filename: str
    data: bytes
    content_type: str
    url: str
    description: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class MessageVersion:
    """One state of a message: what it looked like from ``timestamp`` on."""

    timestamp: dt.datetime
    at: float  # loop time
    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    attachments: list[StoredAttachment]
    flags: int
    via: str  # the route that produced it


@dataclass
class StoredMessage:
    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    history: list[MessageVersion]
    type: int = 0
    webhook_id: int | None = None
    interaction_id: int | None = None
    nonce: str | None = None
    deleted: bool = False
    deleted_at: float | None = None
    # Emoji → the ids of the users who reacted with it, in order (see reactions.react).
    reactions: dict[str, list[int]] = field(default_factory=dict)

    @property
    def current(self) -> MessageVersion:
        return self.history[-1]

    @property
    def content(self) -> str:
        return self.current.content

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.current.embeds

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.current.components

    @property
    def attachments(self) -> list[StoredAttachment]:
        return self.current.attachments

    @property
    def flags(self) -> int:
        return self.current.flags

    @property
    def edits(self) -> list[MessageVersion]:
        """Every version after the first, oldest first."""
        return self.history[1:]

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & 64)

    @property
    def loading(self) -> bool:
        """A deferred response's "is thinking…" placeholder not yet resolved."""
        return bool(self.flags & 128)

    def custom_ids(self) -> list[str]:
        from .limits import walk_components

        return [c["custom_id"] for c in walk_components(self.components) if "custom_id" in c]


@dataclass
class RestCall:
    """One REST request as the double saw it, and what it answered."""

    method: str
    path: str  # without the /api/v10 prefix
    route: str  # the double's name for the route, "unexpected" when unknown
    query: dict[str, str]
    json: Any
    files: list[Upload]
    at: float  # loop time
    timestamp: dt.datetime
    status: int = 0
    code: int | None = None
    injected: str | None = None  # "rate_limit" or "server_error" when a fault answered it
    interaction_id: int | None = None  # the interaction whose token or id the call used
    message_id: int | None = None  # the message it created, edited, fetched or deleted


@dataclass
class Violation:
    rule: Rule
    status: int  # what the bot got back; 0 where nothing was answered
    code: int
    message: str
    call: RestCall | None = None
    interaction_id: int | None = None
    message_id: int | None = None

    def __str__(self) -> str:
        where = f" on {self.call.method} {self.call.path}" if self.call else ""
        return f"{self.rule}: {self.status}/{self.code} {self.message}{where}"


@dataclass
class Ping:
    """A mention that would notify someone, as the allowed_mentions of the write left it."""

    kind: str  # "everyone", "here", "user" or "role"
    target: int | None
    message_id: int
    call: RestCall | None


@dataclass
class InitialResponse:
    type: int  # 4 message, 5 deferred, 6 deferred update, 7 update, 8 autocomplete, 9 modal
    at: float
    delay: float  # seconds after dispatch
    data: dict[str, Any]
    message_id: int | None


@dataclass
class InteractionRecord:
    """An interaction the double dispatched and everything the bot did with its token."""

    id: int
    token: str
    type: int  # 2 command, 3 component, 4 autocomplete, 5 modal submit
    name: str  # command name or custom_id
    user_id: int
    guild_id: int | None
    channel_id: int
    dispatched_at: float
    deadline: float
    expires_at: float
    payload: dict[str, Any]
    double: DiscordDouble = field(repr=False)
    response: InitialResponse | None = None
    original_id: int | None = None  # the @original message
    followup_ids: list[int] = field(default_factory=list)
    choices: list[dict[str, Any]] | None = None  # autocomplete result
    modal: dict[str, Any] | None = None  # the modal the bot opened

    @property
    def original(self) -> StoredMessage | None:
        return self.double.messages.get(self.original_id) if self.original_id else None

    @property
    def followups(self) -> list[StoredMessage]:
        """Messages created by follow-ups; the one that resolved a defer is the original."""
        return [self.double.messages[i] for i in self.followup_ids]

    @property
    def violations(self) -> list[Violation]:
        return [v for v in self.double.violations if v.interaction_id == self.id]

    @property
    def deadline_passed(self) -> bool:
        return self.double.loop_time() >= self.deadline

    @property
    def token_expired(self) -> bool:
        return self.double.loop_time() >= self.expires_at

    async def wait_for_response(self, timeout: float = 5.0) -> InitialResponse:
        """The first response, once the bot sent one."""
        return await self.double.wait_until(
            lambda: self.response, timeout, f"a response to interaction {self.name!r}"
        )

    async def wait_for_followup(self, count: int = 1, timeout: float = 5.0) -> StoredMessage:
        """The ``count``-th follow-up message (1-based), once it exists."""
        return await self.double.wait_until(
            lambda: self.followups[count - 1] if len(self.followup_ids) >= count else None,
            timeout,
            f"follow-up #{count} of {self.name!r}",
        )

    async def wait_for_original(
        self, predicate: Callable[[StoredMessage], bool] | None = None, timeout: float = 5.0
    ) -> StoredMessage:
        """The @original message once it satisfies ``predicate`` (default: it exists)."""

        def check() -> StoredMessage | None:
            message = self.original
            if message is not None and (predicate is None or predicate(message)):
                return message
            return None

        return await self.double.wait_until(check, timeout, f"@original of {self.name!r}")

    async def wait_for_violation(self, rule: Rule, timeout: float = 5.0) -> Violation:
        return await self.double.wait_until(
            lambda: next((v for v in self.violations if v.rule == rule), None),
            timeout,
            f"a {rule} violation on {self.name!r}",
        )

    async def wait_deadline_passed(self, timeout: float = 10.0) -> None:
        await self.double.wait_until(lambda: self.deadline_passed, timeout, "the deadline")

    async def wait_token_expired(self, timeout: float = 10.0) -> None:
        await self.double.wait_until(lambda: self.token_expired, timeout, "the token expiry")


@dataclass
class InjectedFault:
    kind: str  # "rate_limit" or "server_error"
    status: int
    call: RestCall
    processed: bool  # the write happened before the error was answered
