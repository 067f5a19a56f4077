"""Message writes: validation, attachments, edit history, pings, duplicates, gateway echoes."""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import payloads
from .gateway import DIRECT_MESSAGES, GUILD_MESSAGES, MESSAGE_CONTENT
from .limits import DiscordError, Rule, Upload, check_message, form_error
from .state import (
    Channel,
    InteractionRecord,
    MessageVersion,
    Ping,
    RestCall,
    StoredAttachment,
    StoredMessage,
    User,
    utcnow,
)

if TYPE_CHECKING:
    from .double import DiscordDouble

EPHEMERAL = 1 << 6
LOADING = 1 << 7
# Flags a bot may set when sending: suppress embeds, ephemeral, silent, components v2.
SETTABLE_FLAGS = (1 << 2) | EPHEMERAL | (1 << 12) | (1 << 15)

_EVERYONE = re.compile(r"@(everyone|here)\b")
_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")


def mentions(content: str, allowed: Mapping[str, Any] | None) -> list[tuple[str, int | None]]:
    """The mentions in ``content`` that would notify, given the write's allowed_mentions."""
    if allowed is None:
        # No allowed_mentions at all: Discord parses every kind of mention in the content.
        parse, users, roles = {"everyone", "users", "roles"}, set(), set()
    else:
        parse = set(allowed.get("parse") or [])
        users = {int(u) for u in allowed.get("users") or []}
        roles = {int(r) for r in allowed.get("roles") or []}
    found: list[tuple[str, int | None]] = []
    if "everyone" in parse:
        found += [(m.group(1), None) for m in _EVERYONE.finditer(content)]
    for m in _USER.finditer(content):
        if "users" in parse or int(m.group(1)) in users:
            found.append(("user", int(m.group(1))))
    for m in _ROLE.finditer(content):
        if "roles" in parse or int(m.group(1)) in roles:
            found.append(("role", int(m.group(1))))
    return list(dict.fromkeys(found))


class MessageStore:
    """Creates, edits and deletes the double's messages the way Discord would."""

    def __init__(self, double: DiscordDouble) -> None:
        self.double = double

    # -- writes ----------------------------------------------------------------------------
    async def create(
        self,
        *,
        channel: Channel,
        author: User,
        payload: Mapping[str, Any],
        files: Sequence[Upload],
        via: str,
        call: RestCall | None,
        upload_limit: int,
        interaction: InteractionRecord | None = None,
        message_type: int = 0,
        loading: bool = False,
        extra_flags: int = 0,
    ) -> StoredMessage:
        double = self.double
        if not loading:
            check_message(payload, files, limits=double.limits, upload_limit=upload_limit)
        attachments = self._attachments(payload, files, None, editing=False)
        flags = (int(payload.get("flags") or 0) & SETTABLE_FLAGS) | extra_flags
        if loading:
            flags |= LOADING
        now, at = utcnow(), double.loop_time()
        message = StoredMessage(
            id=double.snowflake(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author_id=author.id,
            history=[
                MessageVersion(
                    timestamp=now,
                    at=at,
                    content=payload.get("content") or "",
                    embeds=list(payload.get("embeds") or []),
                    components=list(payload.get("components") or []),
                    attachments=attachments,
                    flags=flags,
                    via=via,
                )
            ],
            type=message_type,
            webhook_id=double.application_id if interaction is not None else None,
            interaction_id=interaction.id if interaction is not None else None,
            nonce=str(payload["nonce"]) if payload.get("nonce") is not None else None,
        )
        double.messages[message.id] = message
        if call is not None:
            call.message_id = message.id
        if not loading:
            self._check_pings(message, payload, call, notify=True)
            self._check_duplicate(message, call)
        await self._echo("MESSAGE_CREATE", message)
        double.notify()
        return message

    async def edit(
        self,
        message: StoredMessage,
        payload: Mapping[str, Any],
        files: Sequence[Upload],
        *,
        via: str,
        call: RestCall | None,
        upload_limit: int,
    ) -> StoredMessage:
        double = self.double
        if call is not None:
            call.message_id = message.id
        if message.deleted:
            raise DiscordError(404, 10008, "Unknown Message", Rule.UNKNOWN_MESSAGE)
        resolving = message.loading
        check_message(
            payload, files, limits=double.limits, upload_limit=upload_limit, editing=not resolving
        )
        current = message.current
        attachments = self._attachments(payload, files, current.attachments, editing=True)
        if len(attachments) > double.limits.max_files:
            # Kept and new attachments count together.
            raise DiscordError(
                400,
                30015,
                f"Maximum number of attachments in a message reached ({double.limits.max_files})",
                Rule.TOO_MANY_FILES,
            )
        flags = current.flags & ~LOADING
        if "flags" in payload and payload["flags"] is not None:
            # Ephemerality is fixed at creation; only the suppress-embeds bit may change.
            flags = (flags & ~(1 << 2)) | (int(payload["flags"]) & (1 << 2))
        now, at = utcnow(), double.loop_time()
        interval = double.limits.min_edit_interval
        if interval is not None and not resolving and at - current.at < interval:
            double.violate(
                Rule.EDIT_TOO_FAST,
                200,
                0,
                f"edited {at - current.at:.3f}s after the previous version (< {interval}s)",
                call=call,
                message_id=message.id,
            )
        message.history.append(
            MessageVersion(
                timestamp=now,
                at=at,
                content=payload.get("content", current.content) or "",
                embeds=list(payload.get("embeds", current.embeds) or []),
                components=list(payload.get("components", current.components) or []),
                attachments=attachments,
                flags=flags,
                via=via,
            )
        )
        # Resolving a "thinking…" placeholder is when the user gets notified, like a create.
        self._check_pings(message, payload, call, notify=resolving)
        if resolving:
            self._check_duplicate(message, call)
        await self._echo("MESSAGE_UPDATE", message)
        double.notify()
        return message

    async def delete(self, message: StoredMessage) -> None:
        if message.deleted:
            raise DiscordError(404, 10008, "Unknown Message", Rule.UNKNOWN_MESSAGE)
        message.deleted = True
        message.deleted_at = self.double.loop_time()
        if not message.ephemeral:
            data: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
            if message.guild_id is not None:
                data["guild_id"] = str(message.guild_id)
            await self._dispatch("MESSAGE_DELETE", data, message)
        self.double.notify()

    # -- payloads --------------------------------------------------------------------------
    def payload(self, message: StoredMessage) -> dict[str, Any]:
        double = self.double
        record = double.interactions.get(message.interaction_id or 0)
        metadata = None
        if record is not None:
            metadata = payloads.interaction_metadata(
                record.type, record.id, double.users[record.user_id], record.guild_id
            )
        return payloads.message(
            message,
            double.users[message.author_id],
            application_id=double.application_id,
            interaction=metadata,
        )

    # -- helpers ---------------------------------------------------------------------------
    def _attachments(
        self,
        payload: Mapping[str, Any],
        files: Sequence[Upload],
        existing: list[StoredAttachment] | None,
        *,
        editing: bool,
    ) -> list[StoredAttachment]:
        listed = payload.get("attachments")
        if listed is None:
            # Without an attachments array an edit keeps what was there and adds new files.
            return list(existing or []) + [self.store_file(f, None, None) for f in files]
        kept: list[StoredAttachment] = []
        used: set[int] = set()
        by_id = {a.id: a for a in existing or []}
        for index, item in enumerate(listed):
            attachment_id = int(item["id"])
            if attachment_id in by_id:
                kept.append(by_id[attachment_id])
            elif 0 <= attachment_id < len(files):
                used.add(attachment_id)
                upload = files[attachment_id]
                kept.append(self.store_file(upload, item.get("filename"), item.get("description")))
            else:
                raise form_error(
                    Rule.INVALID_FORM,
                    f"attachments.{index}.id",
                    "ATTACHMENT_NOT_FOUND",
                    f"Unknown attachment {attachment_id}",
                )
        if not editing:
            # On create, files the array does not describe are still attached.
            kept += [self.store_file(f, None, None) for i, f in enumerate(files) if i not in used]
        return kept

    def store_file(
        self, upload: Upload, filename: str | None, description: str | None
    ) -> StoredAttachment:
        name = filename or upload.filename
        content_type = upload.content_type
        if content_type in ("", "application/octet-stream"):
            # discord.py sends every file as octet-stream; Discord sniffs the type from the name.
            content_type = mimetypes.guess_type(name)[0] or content_type
        attachment_id = self.double.snowflake()
        attachment = StoredAttachment(
            id=attachment_id,
            filename=name,
            data=upload.data,
            content_type=content_type,
            url=f"{self.double.url}/attachments/{attachment_id}/{name}",
            description=description,
        )
        self.double.attachments[attachment_id] = attachment
        return attachment

    def _check_pings(
        self,
        message: StoredMessage,
        payload: Mapping[str, Any],
        call: RestCall | None,
        *,
        notify: bool,
    ) -> None:
        if "content" not in payload or message.ephemeral:
            return
        if message.author_id != self.double.bot_user.id:
            return  # users' own mentions are not the bot's doing
        found = mentions(message.content, payload.get("allowed_mentions"))
        for kind, target in found:
            if notify:
                self.double.pings.append(Ping(kind, target, message.id, call))
            if kind in ("everyone", "here"):
                self.double.violate(
                    Rule.PING,
                    200,
                    0,
                    f"@{kind} in content is pingable: allowed_mentions "
                    f"{'absent' if payload.get('allowed_mentions') is None else 'allows it'}",
                    call=call,
                    message_id=message.id,
                )

    def _check_duplicate(self, message: StoredMessage, call: RestCall | None) -> None:
        window = self.double.limits.duplicate_window
        if window is None:
            return
        mine = _fingerprint(message)
        now = message.current.at
        for other in self.double.messages.values():
            if other.id == message.id or other.deleted or other.loading:
                continue
            if now - other.current.at > window or _fingerprint(other) != mine:
                continue
            self.double.violate(
                Rule.DUPLICATE,
                200,
                0,
                f"message {message.id} repeats message {other.id}",
                call=call,
                message_id=message.id,
            )
            return

    async def _echo(self, event: str, message: StoredMessage) -> None:
        if message.ephemeral:
            return  # ephemeral messages never reach the gateway
        session = self.double.gateway.current
        data = self.payload(message)
        others = message.author_id != self.double.bot_user.id
        if session is not None and not session.intents & MESSAGE_CONTENT and others:
            # Without the message content intent others' messages arrive empty.
            data |= {"content": "", "embeds": [], "attachments": [], "components": []}
        await self._dispatch(event, data, message)

    async def _dispatch(self, event: str, data: dict[str, Any], message: StoredMessage) -> None:
        intent = GUILD_MESSAGES if message.guild_id is not None else DIRECT_MESSAGES
        await self.double.gateway.dispatch(event, data, intent=intent)


def _fingerprint(message: StoredMessage) -> tuple[Any, ...]:
    v = message.current
    return (
        message.channel_id,
        message.author_id,
        message.interaction_id,
        v.content,
        json.dumps(v.embeds, sort_keys=True),
        json.dumps(v.components, sort_keys=True),
        tuple(a.sha256 for a in v.attachments),
    )
