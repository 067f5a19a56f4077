"""The gateway subset: HELLO, IDENTIFY→READY+GUILD_CREATE, heartbeats, RESUME, dispatches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .double import DiscordDouble

HEARTBEAT_INTERVAL_MS = 41250
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15


@dataclass
class GatewaySession:
    """A gateway session; it outlives its connection so that RESUME can replay what was missed."""

    session_id: str
    intents: int
    seq: int = 0
    sent: list[tuple[int, str]] = field(default_factory=list)  # (s, frame), for RESUME
    ws: web.WebSocketResponse | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    valid: bool = True
    ready: bool = False  # READY and every GUILD_CREATE sent
    shard: int = 0


@dataclass
class GatewayEvent:
    at: float
    name: str  # op name or dispatch event name
    direction: str  # "in" from the bot, "out" to the bot


class Gateway:
    """Serves ``/gateway``; one bot token, any number of sessions, the newest one is current."""

    def __init__(self, double: DiscordDouble) -> None:
        self.double = double
        self.sessions: dict[str, GatewaySession] = {}
        self.current: GatewaySession | None = None
        self.events: list[GatewayEvent] = []
        self.allowed_privileged_intents = 0
        # What GET /gateway/bot recommends; with more than one, each guild's events go to the
        # session of its shard, (guild_id >> 22) % shard_count, as Discord routes them.
        self.shard_count = 1
        self.by_shard: dict[int, GatewaySession] = {}

    # -- what tests look at ----------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """A session is READY (or RESUMED) and has a live connection."""
        session = self.current
        return session is not None and session.ws is not None and not session.ws.closed

    @property
    def all_ready(self) -> bool:
        """Every shard has a READY session (one session when unsharded)."""
        if self.shard_count == 1:
            return self.current is not None and self.current.ready
        sessions = [self.by_shard.get(shard) for shard in range(self.shard_count)]
        return all(session is not None and session.ready for session in sessions)

    def shard_of(self, guild_id: int | None) -> int:
        return 0 if guild_id is None else (guild_id >> 22) % self.shard_count

    def count(self, name: str) -> int:
        return sum(1 for e in self.events if e.name == name)

    # -- driving ---------------------------------------------------------------------------
    async def dispatch(
        self, event: str, data: dict[str, Any], *, intent: int | None = None
    ) -> None:
        """Send a DISPATCH to the current session (sharded: the session of the event's guild);
        buffered for RESUME while disconnected."""
        session = self.current
        if self.shard_count > 1 and "guild_id" in data:
            guild_id = data["guild_id"]
            session = self.by_shard.get(self.shard_of(int(guild_id) if guild_id else None))
        if session is None or not session.valid:
            return
        if intent is not None and not session.intents & intent:
            return
        async with session.lock:
            session.seq += 1
            frame = json.dumps({"op": 0, "t": event, "s": session.seq, "d": data})
            session.sent.append((session.seq, frame))
            self._log(event, "out")
            if session.ws is not None and not session.ws.closed:
                # A connection going away mid-send is fine: the frame waits in `sent` for RESUME.
                with contextlib.suppress(ConnectionError):
                    await session.ws.send_str(frame)

    async def drop(self, *, code: int = 4000, resumable: bool = True) -> None:
        """Close the current connection as a network blip (4000) would; optionally kill the
        session too, so that the bot's RESUME gets INVALID_SESSION and it must IDENTIFY again."""
        session = self.current
        if session is None or session.ws is None:
            raise RuntimeError("no gateway connection to drop")
        if not resumable:
            session.valid = False
        ws, session.ws = session.ws, None
        self._log("DROP", "out")
        await ws.close(code=code, message=b"dropped by the test")
        self.double.notify()

    async def request_reconnect(self) -> None:
        """Op 7 RECONNECT: discord.py closes and resumes."""
        session = self.current
        if session is None or session.ws is None:
            raise RuntimeError("no gateway connection")
        self._log("RECONNECT", "out")
        await session.ws.send_str(json.dumps({"op": 7, "d": None, "s": None, "t": None}))

    async def close_all(self) -> None:
        for session in self.sessions.values():
            if session.ws is not None and not session.ws.closed:
                await session.ws.close(code=1001)
            session.ws = None

    # -- the websocket ---------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._log("CONNECT", "in")
        await ws.send_str(
            json.dumps(
                {"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}, "s": None, "t": None}
            )
        )
        session: GatewaySession | None = None
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    # discord.py only ever sends JSON text; anything else ends the connection.
                    break
                payload = json.loads(msg.data)
                op = payload.get("op")
                data = payload.get("d")
                if op == 1:
                    self._log("HEARTBEAT", "in")
                    await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
                elif op == 2:
                    session = await self._identify(ws, data)
                elif op == 6:
                    session = await self._resume(ws, data) or session
                elif op == 8:
                    await self._request_members(ws, data)
                else:
                    self._log(f"OP{op}", "in")
        except _Closed:
            pass
        finally:
            if session is not None and session.ws is ws:
                session.ws = None
            self._log("DISCONNECT", "in")
            self.double.notify()
        return ws

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> GatewaySession:
        self._log("IDENTIFY", "in")
        if data.get("token") != self.double.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            raise _Closed
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            raise _Closed
        shard, count = data.get("shard") or (0, 1)
        if count != self.shard_count or not 0 <= shard < count:
            await ws.close(code=4010, message=b"Invalid shard.")
            raise _Closed
        session = GatewaySession(
            session_id=secrets.token_hex(16), intents=intents, ws=ws, shard=shard
        )
        self.sessions[session.session_id] = session
        self.current = session
        self.by_shard[shard] = session
        double = self.double
        guilds = [guild for guild in double.guilds if self.shard_of(guild) == shard]
        ready = {
            "v": 10,
            "user": double.payload_current_user(),
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": str(double.gateway_url),
            "application": {"id": str(double.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "_trace": ["discord-double"],
        }
        if data.get("shard") is not None:
            ready["shard"] = data["shard"]  # AutoShardedClient reads it without .get()
        await self.dispatch("READY", ready)
        for guild_id in guilds:
            await self.dispatch("GUILD_CREATE", double.payload_guild_create(guild_id, intents))
        session.ready = True
        double.notify()
        return session

    async def _resume(
        self, ws: web.WebSocketResponse, data: dict[str, Any]
    ) -> GatewaySession | None:
        self._log("RESUME", "in")
        session = self.sessions.get(data.get("session_id", ""))
        if session is None or not session.valid or data.get("token") != self.double.token:
            # Not resumable: discord.py closes on its own and identifies afresh.
            self._log("INVALID_SESSION", "out")
            await ws.send_str(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
            return None
        async with session.lock:
            session.ws = ws
            last = int(data.get("seq") or 0)
            for seq, frame in session.sent:
                if seq > last:
                    await ws.send_str(frame)
        self.current = session
        await self.dispatch("RESUMED", {"_trace": ["discord-double"]})
        self.double.notify()
        return session

    async def _request_members(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> None:
        self._log("REQUEST_GUILD_MEMBERS", "in")
        guild_id = int(data["guild_id"])
        chunk = {
            "guild_id": str(guild_id),
            "members": self.double.payload_members(guild_id, everyone=True),
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    def _log(self, name: str, direction: str) -> None:
        self.events.append(GatewayEvent(self.double.loop_time(), name, direction))


class _Closed(Exception):
    """The connection was refused; ends the handler's read loop."""
