"""The REST subset: routing, auth, fault injection, and one handler per Discord route."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, hdrs, web

from . import faults, payloads
from .limits import DiscordError, Rule, Upload, check_choices, check_commands, form_error
from .state import Channel, InitialResponse, InteractionRecord, RestCall, StoredMessage, utcnow
from .store import EPHEMERAL

if TYPE_CHECKING:
    from .double import DiscordDouble

API_PREFIX = "/api/v10"
Result = tuple[int, Any]
Handler = Callable[..., Awaitable[Result]]

# (method, path pattern, route name). Names are what RestCall.route and fault filters use.
_ROUTES: list[tuple[str, str, str]] = [
    ("GET", r"/users/@me", "get_me"),
    ("POST", r"/users/@me/channels", "create_dm"),
    ("GET", r"/oauth2/applications/@me", "app_info"),
    ("GET", r"/applications/@me", "app_info"),
    ("GET", r"/gateway", "gateway"),
    ("GET", r"/gateway/bot", "gateway"),
    ("PUT", r"/applications/(?P<app>\d+)/commands", "sync_global_commands"),
    ("GET", r"/applications/(?P<app>\d+)/commands", "get_global_commands"),
    ("PUT", r"/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands", "sync_guild_commands"),
    ("GET", r"/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands", "get_guild_commands"),
    ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback", "interaction_callback"),
    ("POST", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)", "followup"),
    (
        "GET",
        r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
        "get_webhook_message",
    ),
    (
        "PATCH",
        r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
        "edit_webhook_message",
    ),
    (
        "DELETE",
        r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)",
        "delete_webhook_message",
    ),
    ("POST", r"/channels/(?P<cid>\d+)/messages", "create_message"),
    ("GET", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", "get_message"),
    ("PATCH", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", "edit_message"),
    ("DELETE", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", "delete_message"),
    ("GET", r"/channels/(?P<cid>\d+)", "get_channel"),
    ("POST", r"/channels/(?P<cid>\d+)/typing", "typing"),
]
ROUTES = [(m, re.compile(p + r"/?"), n) for m, p, n in _ROUTES]
# Interaction routes authenticate by the token in the path, and Discord keeps them out of the
# bot's global rate limit.
TOKEN_ROUTES = frozenset(
    {
        "interaction_callback",
        "followup",
        "get_webhook_message",
        "edit_webhook_message",
        "delete_webhook_message",
    }
)
# Which callback types each interaction type accepts (2 command, 3 component, 4 autocomplete,
# 5 modal submit).
CALLBACK_TYPES = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py compares the header verbatim, and aiohttp's
    # json_response would append "; charset=utf-8", turning every body into plain text.
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={hdrs.CONTENT_TYPE: "application/json", **(headers or {})},
    )


async def read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """JSON, or multipart with a ``payload_json`` part and ``files[n]`` parts."""
    if request.content_type == "multipart/form-data":
        payload: Any = {}
        files: dict[int, Upload] = {}
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            data = bytes(await part.read(decode=False))
            match = re.fullmatch(r"files\[(\d+)\]", part.name or "")
            if part.name == "payload_json":
                payload = json.loads(data)
            elif match:
                content_type = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
                files[int(match.group(1))] = Upload(part.filename or "file", data, content_type)
        return payload, [files[i] for i in sorted(files)]
    raw = await request.read()
    if not raw:
        return None, []
    if request.content_type == "application/json":
        return json.loads(raw), []
    return raw.decode(errors="replace"), []


class RestApi:
    """Answers every HTTP request of the double; anything unknown is a 404 and a violation."""

    def __init__(self, double: DiscordDouble) -> None:
        self.double = double
        self._recent: deque[float] = deque()  # bot-authenticated request times, global limit

    async def handle(self, request: web.Request) -> web.StreamResponse:
        double = self.double
        if request.path.startswith("/attachments/"):
            return await self._attachment(request)
        path = request.path.removeprefix(API_PREFIX)
        route, handler, params = self._match(request.method, path, request.path)
        try:
            body, files = await read_body(request)
        except Exception as error:
            double.internal_errors.append(f"{request.method} {path}: unreadable body {error!r}")
            raise
        call = RestCall(
            method=request.method,
            path=path,
            route=route,
            query=dict(request.query),
            json=body,
            files=files,
            at=double.loop_time(),
            timestamp=utcnow(),
        )
        double.calls.append(call)
        try:
            response = await self._answer(request, call, handler, params)
        except Exception as error:  # a bug in the double must fail the test, not hide as a 500
            if not isinstance(error, DiscordError):
                double.internal_errors.append(f"{call.method} {call.path}: {error!r}")
                raise
            response = json_response(error.status, error.body())
            call.code = error.code
            if error.rule is not None:
                double.violate(
                    error.rule,
                    error.status,
                    error.code,
                    error.message,
                    call=call,
                    interaction_id=call.interaction_id,
                    message_id=call.message_id,
                )
        call.status = response.status
        double.notify()
        return response

    def _match(
        self, method: str, path: str, full_path: str
    ) -> tuple[str, Handler | None, dict[str, str]]:
        if not full_path.startswith(API_PREFIX + "/"):
            return "unexpected", None, {}
        for route_method, pattern, name in ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return name, getattr(self, f"_{name}"), match.groupdict()
        return "unexpected", None, {}

    async def _answer(
        self,
        request: web.Request,
        call: RestCall,
        handler: Handler | None,
        params: dict[str, str],
    ) -> web.StreamResponse:
        double = self.double
        if handler is None:
            raise DiscordError(404, 0, "404: Not Found", Rule.UNEXPECTED_ROUTE)
        bucket = f"{call.route}:{params.get('cid') or params.get('guild') or ''}"
        if call.route not in TOKEN_ROUTES:
            if request.headers.get(hdrs.AUTHORIZATION) != f"Bot {double.token}":
                raise DiscordError(401, 0, "401: Unauthorized", Rule.UNAUTHORIZED)
            limited = self._global_limited(call)
            if limited is not None:
                return limited
        for plan in double.fault_plans:
            if not plan.roll(call):
                continue
            call.injected = plan.kind
            processed = plan.after_processing and plan.kind == "server_error"
            if processed:
                # Discord did the work, then the answer got lost: a real error still wins.
                await handler(call, **params)
            double.record_fault(plan.kind, plan.status, call, processed)
            if plan.kind == "rate_limit" and plan.cloudflare:
                # Cloudflare's own 429 (error 1015): a text page and no Via header.
                return web.Response(status=429, text="error code: 1015")
            if plan.kind == "rate_limit":
                body = {
                    "message": "You are being rate limited.",
                    "retry_after": plan.retry_after,
                    "global": plan.is_global,
                }
                headers = faults.rate_limit_headers(
                    bucket, plan.retry_after, is_global=plan.is_global
                )
                return json_response(429, body, headers)
            message = f"{plan.status}: Server Error"
            if plan.echo_request:  # as a misconfigured proxy's error page does
                authorization = request.headers.get(hdrs.AUTHORIZATION)
                message += f" ({call.method} {call.path}, Authorization: {authorization})"
            return json_response(plan.status, {"message": message, "code": 0})
        status, body = await handler(call, **params)
        if status == 204:
            return web.Response(status=204, headers=faults.ok_headers(bucket))
        return json_response(status, body, faults.ok_headers(bucket))

    def _global_limited(self, call: RestCall) -> web.Response | None:
        """Discord's 50 requests per second per bot, answered with a global 429."""
        window, now = self._recent, call.at
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) < self.double.limits.global_rate:
            window.append(now)
            return None
        retry_after = max(0.01, 1.0 - (now - window[0]))
        self.double.violate(
            Rule.GLOBAL_RATE, 429, 0, f"over {len(window)} requests in one second", call=call
        )
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": True,
        }
        return json_response(
            429, body, faults.rate_limit_headers("global", retry_after, is_global=True)
        )

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        double = self.double
        call = RestCall(
            method=request.method,
            path=request.path,
            route="attachment",
            query=dict(request.query),
            json=None,
            files=[],
            at=double.loop_time(),
            timestamp=utcnow(),
        )
        double.calls.append(call)
        parts = request.path.split("/")
        attachment = double.attachments.get(int(parts[2])) if parts[2].isdigit() else None
        if attachment is None or request.method != "GET":
            call.status = 404
            return web.Response(status=404, text="Not Found")
        call.status = 200
        return web.Response(body=attachment.data, content_type=attachment.content_type)

    # -- login, gateway, application --------------------------------------------------------
    async def _get_me(self, call: RestCall) -> Result:
        return 200, self.double.payload_current_user()

    async def _app_info(self, call: RestCall) -> Result:
        double = self.double
        return 200, payloads.application(double.application_id, double.bot_user, double.owner)

    async def _gateway(self, call: RestCall) -> Result:
        return 200, {
            "url": str(self.double.gateway_url),
            "shards": self.double.gateway.shard_count,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 0,
                "max_concurrency": 1,
            },
        }

    async def _create_dm(self, call: RestCall) -> Result:
        double = self.double
        recipient = double.users.get(int((call.json or {}).get("recipient_id", 0)))
        if recipient is None:
            raise form_error(
                Rule.INVALID_FORM, "recipient_id", "NUMBER_TYPE_COERCE", "Unknown user"
            )
        channel = double.dm_channel(recipient)
        return 200, payloads.channel(channel, None, recipient)

    # -- application commands --------------------------------------------------------------
    async def _sync_global_commands(self, call: RestCall, app: str) -> Result:
        return await self._sync(call, app, None)

    async def _sync_guild_commands(self, call: RestCall, app: str, guild: str) -> Result:
        return await self._sync(call, app, int(guild))

    async def _get_global_commands(self, call: RestCall, app: str) -> Result:
        self._check_app(app)
        return 200, self.double.registered_commands.get(None, [])

    async def _get_guild_commands(self, call: RestCall, app: str, guild: str) -> Result:
        self._check_app(app)
        self._check_guild(int(guild))
        return 200, self.double.registered_commands.get(int(guild), [])

    async def _sync(self, call: RestCall, app: str, guild_id: int | None) -> Result:
        double = self.double
        self._check_app(app)
        if guild_id is not None:
            self._check_guild(guild_id)
        if not isinstance(call.json, list):
            raise form_error(Rule.INVALID_FORM, "_", "BASE_TYPE_ARRAY", "Must be an array.")
        check_commands(call.json, double.limits)
        old = {
            (c["name"], c.get("type", 1)): c for c in double.registered_commands.get(guild_id, [])
        }
        result, creates = [], 0
        for command in call.json:
            previous = old.get((command["name"], command.get("type", 1)))
            creates += previous is None
            command_id = int(previous["id"]) if previous else double.snowflake()
            result.append(self._command(command, command_id, guild_id))
        double.registered_commands[guild_id] = result
        double.sync_counts[guild_id] += 1
        double.command_creates[guild_id] += creates
        if (
            guild_id is not None
            and double.command_creates[guild_id] > double.limits.daily_command_creates
        ):
            double.violate(
                Rule.COMMAND_CREATES,
                200,
                30034,
                f"{double.command_creates[guild_id]} command creates today in guild {guild_id}",
                call=call,
            )
        return 200, result

    def _command(self, command: dict[str, Any], command_id: int, guild_id: int | None) -> dict:
        double = self.double
        permissions = command.get("default_member_permissions")
        data = {
            **command,
            "id": str(command_id),
            "application_id": str(double.application_id),
            "version": str(double.snowflake()),
            "type": command.get("type", 1),
            "description": command.get("description", ""),
            "default_member_permissions": None if permissions is None else str(permissions),
            "nsfw": command.get("nsfw", False),
            "integration_types": command.get("integration_types") or [0],
            "contexts": command.get("contexts"),
        }
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        else:
            data["dm_permission"] = command.get("dm_permission", True)
        return data

    def _check_app(self, app: str) -> None:
        if int(app) != self.double.application_id:
            raise DiscordError(403, 50001, "Missing Access", Rule.MISSING_ACCESS)

    def _check_guild(self, guild_id: int) -> None:
        if guild_id not in self.double.guilds:
            raise DiscordError(403, 50001, "Missing Access", Rule.MISSING_ACCESS)

    # -- interaction callback --------------------------------------------------------------
    async def _interaction_callback(self, call: RestCall, iid: str, token: str) -> Result:
        double = self.double
        record = double.interactions.get(int(iid))
        if record is None or record.token != token:
            raise DiscordError(404, 10062, "Unknown interaction", Rule.UNKNOWN_INTERACTION)
        call.interaction_id = record.id
        if record.response is not None:
            raise DiscordError(
                400, 40060, "Interaction has already been acknowledged.", Rule.DOUBLE_ACK
            )
        if call.at > record.deadline:
            raise DiscordError(404, 10062, "Unknown interaction", Rule.LATE_RESPONSE)
        body = call.json if isinstance(call.json, dict) else {}
        kind = body.get("type")
        if kind not in CALLBACK_TYPES.get(record.type, set()):
            raise form_error(
                Rule.INVALID_CALLBACK,
                "type",
                "INTERACTION_CALLBACK_TYPE_INVALID",
                f"Callback type {kind} is not valid for interaction type {record.type}",
            )
        data = body.get("data") or {}
        channel = double.channels[record.channel_id]
        limit = record.payload["attachment_size_limit"]
        message: StoredMessage | None = None
        if kind == 4:
            message = await double.store.create(
                channel=channel,
                author=double.bot_user,
                payload=data,
                files=call.files,
                via="callback",
                call=call,
                upload_limit=limit,
                interaction=record,
                message_type=20 if record.type == 2 else 0,
            )
            record.original_id = message.id
        elif kind == 5:
            message = await double.store.create(
                channel=channel,
                author=double.bot_user,
                payload={},
                files=[],
                via="callback",
                call=call,
                upload_limit=limit,
                interaction=record,
                message_type=20 if record.type == 2 else 0,
                loading=True,
                extra_flags=int(data.get("flags") or 0) & EPHEMERAL,
            )
            record.original_id = message.id
        elif kind in (6, 7):
            message = self._component_message(record)
            if kind == 7:
                await double.store.edit(
                    message, data, call.files, via="callback", call=call, upload_limit=limit
                )
            record.original_id = message.id
        elif kind == 8:
            check_choices(data.get("choices") or [], _focused_type(record), double.limits)
            record.choices = list(data.get("choices") or [])
        elif kind == 9:
            if not data.get("custom_id") or not data.get("title") or not data.get("components"):
                raise form_error(
                    Rule.INVALID_FORM,
                    "data",
                    "MODAL_INVALID",
                    "A modal needs custom_id, title, components",
                )
            record.modal = data
        record.response = InitialResponse(
            type=kind,
            at=call.at,
            delay=call.at - record.dispatched_at,
            data=data,
            message_id=message.id if message else None,
        )
        if call.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        return 200, self._callback_body(record, kind, message)

    def _callback_body(
        self, record: InteractionRecord, kind: int, message: StoredMessage | None
    ) -> dict[str, Any]:
        """InteractionCallbackResponse: discord.py reads interaction.id and, when a message was
        sent or updated, resource.message (since 2.5; a bare 204 breaks it)."""
        info: dict[str, Any] = {"id": str(record.id), "type": record.type}
        if message is not None:
            info |= {
                "response_message_id": str(message.id),
                "response_message_loading": message.loading,
                "response_message_ephemeral": message.ephemeral,
            }
        resource: dict[str, Any] = {"type": kind}
        if kind in (4, 7) and message is not None:
            resource["message"] = self.double.store.payload(message)
        return {"interaction": info, "resource": resource}

    def _component_message(self, record: InteractionRecord) -> StoredMessage:
        raw = record.payload.get("message")
        message = self.double.messages.get(int(raw["id"])) if raw else None
        if message is None or message.deleted:
            raise DiscordError(404, 10008, "Unknown Message", Rule.UNKNOWN_MESSAGE)
        return message

    # -- follow-ups and @original ----------------------------------------------------------
    def _token_record(self, call: RestCall, app: str, token: str) -> InteractionRecord:
        double = self.double
        record = double.interactions_by_token.get(token)
        if record is None or int(app) != double.application_id:
            raise DiscordError(404, 10015, "Unknown Webhook", Rule.UNKNOWN_WEBHOOK)
        call.interaction_id = record.id
        if call.at > record.expires_at:
            raise DiscordError(401, 50027, "Invalid Webhook Token", Rule.TOKEN_EXPIRED)
        if record.response is None:
            # Discord knows no webhook for an interaction that was never acknowledged.
            raise DiscordError(404, 10015, "Unknown Webhook", Rule.NOT_ACKNOWLEDGED)
        return record

    async def _followup(self, call: RestCall, app: str, token: str) -> Result:
        double = self.double
        record = self._token_record(call, app, token)
        payload = call.json if isinstance(call.json, dict) else {}
        limit = record.payload["attachment_size_limit"]
        original = record.original
        if original is not None and original.loading:
            # The first follow-up after a "thinking" defer resolves the placeholder (same id,
            # its ephemerality kept) rather than posting a new message.
            if original.deleted:
                call.message_id = original.id
                raise DiscordError(404, 10008, "Unknown Message", Rule.UNKNOWN_MESSAGE)
            message = await double.store.edit(
                original, payload, call.files, via="followup", call=call, upload_limit=limit
            )
        else:
            message = await double.store.create(
                channel=double.channels[record.channel_id],
                author=double.bot_user,
                payload=payload,
                files=call.files,
                via="followup",
                call=call,
                upload_limit=limit,
                interaction=record,
            )
        record.followup_ids.append(message.id)
        double.notify()
        if call.query.get("wait") not in ("1", "true", "True"):
            return 204, None
        return 200, double.store.payload(message)

    def _webhook_target(self, call: RestCall, record: InteractionRecord, mid: str) -> StoredMessage:
        message_id = record.original_id if mid == "@original" else int(mid)
        mine = {record.original_id, *record.followup_ids}
        message = self.double.messages.get(message_id or 0)
        if message is None or message.id not in mine:
            raise DiscordError(404, 10008, "Unknown Message", Rule.UNKNOWN_MESSAGE)
        call.message_id = message.id
        if message.deleted:
            raise DiscordError(404, 10008, "Unknown Message", Rule.UNKNOWN_MESSAGE)
        return message

    async def _get_webhook_message(self, call: RestCall, app: str, token: str, mid: str) -> Result:
        record = self._token_record(call, app, token)
        return 200, self.double.store.payload(self._webhook_target(call, record, mid))

    async def _edit_webhook_message(self, call: RestCall, app: str, token: str, mid: str) -> Result:
        double = self.double
        record = self._token_record(call, app, token)
        message = self._webhook_target(call, record, mid)
        payload = call.json if isinstance(call.json, dict) else {}
        await double.store.edit(
            message,
            payload,
            call.files,
            via="edit_webhook_message",
            call=call,
            upload_limit=record.payload["attachment_size_limit"],
        )
        return 200, double.store.payload(message)

    async def _delete_webhook_message(
        self, call: RestCall, app: str, token: str, mid: str
    ) -> Result:
        record = self._token_record(call, app, token)
        await self.double.store.delete(self._webhook_target(call, record, mid))
        return 204, None

    # -- channel messages ------------------------------------------------------------------
    def _channel(self, cid: str, *, need: int = 0) -> Channel:
        double = self.double
        channel = double.channels.get(int(cid))
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel", Rule.UNKNOWN_CHANNEL)
        permissions = double.bot_permissions_in(channel)
        if not permissions & double.perm("view_channel"):
            raise DiscordError(403, 50001, "Missing Access", Rule.MISSING_ACCESS)
        if permissions & need != need:
            raise DiscordError(403, 50013, "Missing Permissions", Rule.MISSING_PERMISSIONS)
        return channel

    def _channel_message(self, call: RestCall, channel: Channel, mid: str) -> StoredMessage:
        message = self.double.messages.get(int(mid))
        call.message_id = int(mid)
        # Ephemeral messages only exist for their interaction's webhook, never for the channel.
        if (
            message is None
            or message.channel_id != channel.id
            or message.deleted
            or (message.ephemeral)
        ):
            raise DiscordError(404, 10008, "Unknown Message", Rule.UNKNOWN_MESSAGE)
        return message

    async def _get_channel(self, call: RestCall, cid: str) -> Result:
        double = self.double
        channel = self._channel(cid)
        guild = double.guilds.get(channel.guild_id or 0)
        recipient = double.users.get(channel.recipient_id or 0)
        return 200, payloads.channel(channel, guild, recipient)

    async def _typing(self, call: RestCall, cid: str) -> Result:
        self._channel(cid, need=self.double.perm("send_messages"))
        return 204, None

    async def _create_message(self, call: RestCall, cid: str) -> Result:
        double = self.double
        channel = double.channels.get(int(cid))
        send = (
            "send_messages_in_threads"
            if channel is not None and channel.is_thread
            else ("send_messages")
        )
        need = double.perm(send) | (double.perm("attach_files") if call.files else 0)
        channel = self._channel(cid, need=need)
        payload = call.json if isinstance(call.json, dict) else {}
        nonce = payload.get("nonce")
        if nonce is not None and payload.get("enforce_nonce"):
            # Discord answers a repeated enforced nonce with the message it already created.
            for message in double.messages.values():
                if message.nonce == str(nonce) and message.channel_id == channel.id:
                    return 200, double.store.payload(message)
        reference = payload.get("message_reference")
        if reference and reference.get("fail_if_not_exists", True):
            target = double.messages.get(int(reference.get("message_id") or 0))
            if target is None or target.deleted:
                raise form_error(
                    Rule.UNKNOWN_MESSAGE,
                    "message_reference",
                    "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                    "Unknown message",
                )
        message = await double.store.create(
            channel=channel,
            author=double.bot_user,
            payload={**payload, "flags": int(payload.get("flags") or 0) & ~EPHEMERAL},
            files=call.files,
            via="create_message",
            call=call,
            upload_limit=double.upload_limit_for(channel),
        )
        return 200, double.store.payload(message)

    async def _get_message(self, call: RestCall, cid: str, mid: str) -> Result:
        double = self.double
        channel = self._channel(cid, need=double.perm("read_message_history"))
        return 200, double.store.payload(self._channel_message(call, channel, mid))

    async def _edit_message(self, call: RestCall, cid: str, mid: str) -> Result:
        double = self.double
        channel = self._channel(cid)
        message = self._channel_message(call, channel, mid)
        if message.author_id != double.bot_user.id:
            raise DiscordError(
                403, 50005, "Cannot edit a message authored by another user", Rule.INVALID_FORM
            )
        payload = call.json if isinstance(call.json, dict) else {}
        await double.store.edit(
            message,
            payload,
            call.files,
            via="edit_message",
            call=call,
            upload_limit=double.upload_limit_for(channel),
        )
        return 200, double.store.payload(message)

    async def _delete_message(self, call: RestCall, cid: str, mid: str) -> Result:
        double = self.double
        channel = self._channel(cid)
        message = self._channel_message(call, channel, mid)
        if message.author_id != double.bot_user.id:
            self._channel(cid, need=double.perm("manage_messages"))
        await double.store.delete(message)
        return 204, None


def _focused_type(record: InteractionRecord) -> int:
    """The type of the focused option of an autocomplete interaction (3 when unknown)."""
    options = (record.payload.get("data") or {}).get("options") or []
    while options:
        focused = next((o for o in options if o.get("focused")), None)
        if focused is not None:
            return int(focused["type"])
        nested = next((o for o in options if o.get("type") in (1, 2)), None)
        options = nested.get("options") or [] if nested else []
    return 3
