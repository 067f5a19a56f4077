"""DiscordDouble: the loopback server, its world, the redirect of discord.py, and test drivers."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import cache
from types import TracebackType
from typing import Any, Self, TypeVar

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import web

from . import faults, payloads
from . import options as opts
from .gateway import GUILD_MEMBERS, Gateway
from .limits import MIB, Limits, Rule, Upload, walk_components
from .rest import RestApi
from .state import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_MEMBER_PERMISSIONS,
    Channel,
    Guild,
    InjectedFault,
    InteractionRecord,
    Member,
    Ping,
    RestCall,
    Role,
    Snowflakes,
    StoredAttachment,
    StoredMessage,
    User,
    Violation,
    iso,
    utcnow,
)
from .store import MessageStore

T = TypeVar("T")
ClientT = TypeVar("ClientT", bound=discord.Client)
ChannelLike = Channel | int
UserLike = User | int
UploadLike = Upload | tuple[str, bytes] | tuple[str, bytes, str]

# What a bot can do in a DM with a user.
DM_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    add_reactions=True,
).value
# Upload limits of boosted guilds, by premium tier.
TIER_UPLOAD_LIMITS = {2: 50 * MIB, 3: 100 * MIB}


class StrictViolation(AssertionError):
    """Raised by :meth:`DiscordDouble.strict_check` when the bot broke a Discord limit."""


class DiscordDouble:
    """A strict loopback Discord for the real discord.py client.

    Usage::

        async with DiscordDouble() as double, double.running(MyBot(double.guild.id)) as bot:
            record = await double.invoke("render", {"prompt": "a fox"})
            assert (await record.wait_for_response()).type == 5  # deferred in time
            result = await record.wait_for_followup()
            assert result.attachments[0].data.startswith(b"\\x89PNG")
            click = await double.click(result, "job:7:cancel")
            await click.wait_for_response()
            assert "cancelled" in result.content
            assert double.violations == []

    ``async with DiscordDouble() as double`` starts the server on 127.0.0.1, points
    ``discord.http.Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY`` at it, and on a clean
    exit raises :class:`StrictViolation` if any violation was left untaken.
    A default world exists: ``double.guild`` (owned by ``double.owner``) with ``double.channel``
    and ``double.user`` as an ordinary member. Build more before the bot connects (the world
    goes out in GUILD_CREATE), or call :meth:`push_guilds` after changing it.
    """

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        token: str = "discord-double-bot-token",
        bot_name: str = "lcm-bot",
        check_on_exit: bool = True,
        allowed_privileged_intents: int = 0,
        shards: int = 1,
    ) -> None:
        self.limits = limits or Limits()
        self.token = token
        self.check_on_exit = check_on_exit
        self.snowflake = Snowflakes()
        # New applications share their id with their bot user.
        self.application_id = self.snowflake()
        self.bot_user = User(self.application_id, bot_name, bot=True)
        self.users: dict[int, User] = {self.bot_user.id: self.bot_user}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.members: dict[tuple[int, int], Member] = {}
        self.messages: dict[int, StoredMessage] = {}
        self.attachments: dict[int, StoredAttachment] = {}
        self.interactions: dict[int, InteractionRecord] = {}
        self.interactions_by_token: dict[str, InteractionRecord] = {}
        self.registered_commands: dict[int | None, list[dict[str, Any]]] = {}
        self.sync_counts: Counter[int | None] = Counter()
        self.command_creates: Counter[int | None] = Counter()
        self.calls: list[RestCall] = []
        self.violations: list[Violation] = []
        self.pings: list[Ping] = []
        self.faults: list[InjectedFault] = []
        self.internal_errors: list[str] = []  # exceptions in the double's own handlers
        self.fault_plans: list[faults.FaultPlan] = []
        self.gateway = Gateway(self)
        self.gateway.allowed_privileged_intents = allowed_privileged_intents
        self.gateway.shard_count = shards  # what GET /gateway/bot recommends
        self.rest = RestApi(self)
        self.store = MessageStore(self)
        self._waiters: list[asyncio.Future[None]] = []
        self._timers: list[asyncio.TimerHandle] = []
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._saved: tuple[str, yarl.URL] | None = None

        self.owner = self.add_user("owner")
        self.user = self.add_user("tester")
        self.guild = self.add_guild("Test Guild", owner=self.owner)
        self.channel = self.add_text_channel(self.guild, "general")
        self.add_member(self.guild, self.user)

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await self.start()
        self.install()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()
        await self.stop()
        if exc_type is None and self.check_on_exit:
            self.strict_check()

    async def start(self) -> None:
        # Uploads over the limit must reach a handler to get Discord's 413, not aiohttp's.
        app = web.Application(client_max_size=1024 * MIB)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_route("*", "/{tail:.*}", self.rest.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def install(self) -> None:
        """Point discord.py's two redirect points at this double (undone by uninstall)."""
        if self._saved is None:
            self._saved = (
                discord.http.Route.BASE,
                discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
            )
        discord.http.Route.BASE = f"{self.url}/api/v10"
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self.gateway_url

    def uninstall(self) -> None:
        if self._saved is not None:
            base, gateway = self._saved
            discord.http.Route.BASE = base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway
            self._saved = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def gateway_url(self) -> yarl.URL:
        return yarl.URL(f"ws://127.0.0.1:{self._port}/gateway")

    @asynccontextmanager
    async def running(self, client: ClientT, *, timeout: float = 10.0) -> AsyncIterator[ClientT]:
        """Log ``client`` in, connect it, wait for on_ready; close it on exit.

        Give the client ``guild_ready_timeout=0.05``, or discord.py waits 2 s before on_ready.
        A client that dies while the test runs (its connect() raised) fails the test on exit.
        """
        try:
            # login() must come first: wait_until_ready() raises before it, and it runs
            # setup_hook, where bots usually sync their commands.
            await client.login(self.token)
        except BaseException:
            await client.close()
            raise
        task = asyncio.create_task(client.connect(), name="discord-double client")
        ready = asyncio.create_task(client.wait_until_ready())
        try:
            done, _ = await asyncio.wait(
                {task, ready}, timeout=timeout, return_when="FIRST_COMPLETED"
            )
            if ready not in done:
                if task in done:
                    task.result()  # the client's own failure, e.g. PrivilegedIntentsRequired
                raise TimeoutError(f"the client was not ready within {timeout}s")
            yield client
        except BaseException:
            await _shut_down(client, task, ready, timeout, quiet=True)
            raise
        await _shut_down(client, task, ready, timeout, quiet=False)

    # -- waiting ---------------------------------------------------------------------------
    def loop_time(self) -> float:
        # asyncio's default loop clock, so call_later timers and recorded times agree.
        return time.monotonic()

    def notify(self) -> None:
        """Wake everything waiting in wait_until; state changed."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_until(
        self, predicate: Callable[[], T | None], timeout: float = 5.0, what: str = "a condition"
    ) -> T:
        """Return ``predicate()`` once it is truthy. Wakes on every change the double sees, and
        at least every 50 ms for conditions on the bot's own state."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = end - loop.time()
            if remaining <= 0:
                recent = "\n  ".join(f"{c.method} {c.path} -> {c.status}" for c in self.calls[-8:])
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {what}; "
                    f"violations: {[str(v) for v in self.violations]}; last calls:\n  {recent}"
                )
            waiter = loop.create_future()
            self._waiters.append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, min(remaining, 0.05))

    async def wait_until_connected(self, timeout: float = 5.0) -> None:
        await self.wait_until(lambda: self.gateway.connected, timeout, "a gateway connection")

    async def wait_for_message(
        self,
        channel: ChannelLike,
        predicate: Callable[[StoredMessage], bool] | None = None,
        timeout: float = 5.0,
    ) -> StoredMessage:
        """The first live message in ``channel`` satisfying ``predicate`` (existing or new)."""
        channel_id = _id(channel)

        def find() -> StoredMessage | None:
            return next(
                (m for m in self.messages_in(channel_id) if predicate is None or predicate(m)),
                None,
            )

        return await self.wait_until(find, timeout, f"a message in channel {channel_id}")

    async def wait_for_violation(self, rule: Rule, timeout: float = 5.0) -> Violation:
        return await self.wait_until(
            lambda: next((v for v in self.violations if v.rule == rule), None),
            timeout,
            f"a {rule} violation",
        )

    # -- records ---------------------------------------------------------------------------
    def violate(
        self,
        rule: Rule,
        status: int,
        code: int,
        message: str,
        *,
        call: RestCall | None = None,
        interaction_id: int | None = None,
        message_id: int | None = None,
    ) -> Violation:
        if call is not None:
            interaction_id = interaction_id or call.interaction_id
            message_id = message_id or call.message_id
        violation = Violation(rule, status, code, message, call, interaction_id, message_id)
        self.violations.append(violation)
        self.notify()
        return violation

    def take_violations(self, rule: Rule | None = None) -> list[Violation]:
        """Remove and return the violations of ``rule`` (all when None): the test saw them."""
        taken = [v for v in self.violations if rule is None or v.rule == rule]
        self.violations = [v for v in self.violations if not (rule is None or v.rule == rule)]
        return taken

    def strict_check(self) -> None:
        if self.internal_errors:
            raise StrictViolation(f"the double itself failed: {self.internal_errors}")
        if self.violations:
            lines = "\n  ".join(str(v) for v in self.violations)
            raise StrictViolation(f"{len(self.violations)} Discord violation(s):\n  {lines}")

    def record_fault(self, kind: str, status: int, call: RestCall, processed: bool) -> None:
        self.faults.append(InjectedFault(kind, status, call, processed))

    def messages_in(self, channel: ChannelLike, *, deleted: bool = False) -> list[StoredMessage]:
        channel_id = _id(channel)
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel_id and (deleted or not m.deleted)
        ]

    def calls_to(self, route: str) -> list[RestCall]:
        return [c for c in self.calls if c.route == route]

    @property
    def unexpected_calls(self) -> list[RestCall]:
        return self.calls_to("unexpected")

    @property
    def invalid_requests(self) -> int:
        """401, 403 and 429 answers: Discord bans a bot at 10,000 of them in 10 minutes."""
        return sum(1 for c in self.calls if c.status in (401, 403, 429))

    def commands_for(self, guild: Guild | int | None = None) -> list[dict[str, Any]]:
        return self.registered_commands.get(None if guild is None else _id(guild), [])

    def sync_count(self, guild: Guild | int | None = None) -> int:
        return self.sync_counts[None if guild is None else _id(guild)]

    # -- fault injection -------------------------------------------------------------------
    def inject_rate_limits(
        self,
        fraction: float,
        seed: int = 0,
        *,
        retry_after: float = 0.01,
        routes: Collection[str] | None = None,
        max_consecutive: int = 2,
        is_global: bool = False,
        cloudflare: bool = False,
    ) -> None:
        """Answer ``fraction`` of API calls with a 429 discord.py retries (``Via`` set).

        ``max_consecutive`` (< 5, discord.py's tries) bounds 429s in a row for one path.
        ``cloudflare=True`` sends Cloudflare's ban page instead (no ``Via``): discord.py raises
        HTTPException(429) at once, as it would for a banned bot."""
        if not 0 <= max_consecutive < 5:
            raise ValueError("discord.py gives up after 5 tries; keep max_consecutive below 5")
        self.fault_plans.append(
            faults.make_plan(
                "rate_limit",
                fraction,
                seed,
                routes=routes,
                max_consecutive=max_consecutive,
                status=429,
                retry_after=retry_after,
                is_global=is_global,
                cloudflare=cloudflare,
            )
        )

    def inject_server_errors(
        self,
        fraction: float,
        seed: int = 0,
        *,
        status: int = 502,
        after_processing: bool = False,
        routes: Collection[str] | None = None,
        max_consecutive: int = 1,
        echo_request: bool = False,
    ) -> None:
        """Answer ``fraction`` of API calls with ``status``. discord.py retries 500/502/504/524
        after 1 s, 3 s, ...; with ``after_processing`` the write happens first (a lost answer),
        which is how duplicates reach users. ``echo_request``: the error message quotes the
        request with its Authorization header, as some proxies' error pages do."""
        self.fault_plans.append(
            faults.make_plan(
                "server_error",
                fraction,
                seed,
                routes=routes,
                max_consecutive=max_consecutive,
                status=status,
                after_processing=after_processing,
                echo_request=echo_request,
            )
        )

    def clear_faults(self) -> None:
        self.fault_plans.clear()

    # -- the world -------------------------------------------------------------------------
    def add_user(self, name: str, *, locale: str = "en-US") -> User:
        user = User(self.snowflake(), name, locale=locale)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        owner: User | None = None,
        premium_tier: int = 0,
        upload_limit: int | None = None,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = DEFAULT_MEMBER_PERMISSIONS,
        locale: str = "en-US",
    ) -> Guild:
        owner = owner or self.owner
        guild_id = self.snowflake()
        bot_role = Role(self.snowflake(), self.bot_user.name, bot_permissions, managed=True)
        guild = Guild(
            id=guild_id,
            name=name,
            owner_id=owner.id,
            bot_role_id=bot_role.id,
            premium_tier=premium_tier,
            upload_limit=upload_limit,
            everyone_permissions=everyone_permissions,
            bot_permissions=bot_permissions,
            locale=locale,
        )
        guild.roles[guild_id] = Role(guild_id, "@everyone", everyone_permissions)
        guild.roles[bot_role.id] = bot_role
        self.guilds[guild_id] = guild
        self.members[(guild_id, self.bot_user.id)] = Member(
            guild_id, self.bot_user.id, [bot_role.id], utcnow()
        )
        self.members[(guild_id, owner.id)] = Member(guild_id, owner.id, [], utcnow())
        return guild

    def add_text_channel(
        self,
        guild: Guild,
        name: str,
        *,
        nsfw: bool = False,
        bot_permissions: int | None = None,
    ) -> Channel:
        """A text channel; ``bot_permissions`` replaces the bot's guild permissions here."""
        position = sum(1 for c in self.channels.values() if c.guild_id == guild.id)
        channel = Channel(
            id=self.snowflake(),
            name=name,
            type=0,
            guild_id=guild.id,
            nsfw=nsfw,
            position=position,
            bot_permissions=bot_permissions,
        )
        self.channels[channel.id] = channel
        return channel

    def add_thread(
        self, parent: Channel, name: str, *, private: bool = False, owner: User | None = None
    ) -> Channel:
        """A thread of ``parent``; it inherits the parent's NSFW flag and bot permissions."""
        thread = Channel(
            id=self.snowflake(),
            name=name,
            type=12 if private else 11,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            nsfw=parent.nsfw,
            owner_id=(owner or self.owner).id,
        )
        self.channels[thread.id] = thread
        return thread

    def add_member(
        self,
        guild: Guild,
        user: User,
        *,
        permissions: int | None = None,
        nick: str | None = None,
    ) -> Member:
        """Make ``user`` a member; ``permissions`` beyond @everyone's come with a role of theirs."""
        role_ids = []
        if permissions:
            role = Role(self.snowflake(), f"{user.name}-role", permissions)
            guild.roles[role.id] = role
            role_ids.append(role.id)
        member = Member(guild.id, user.id, role_ids, utcnow(), nick)
        self.members[(guild.id, user.id)] = member
        return member

    def add_role(self, guild: Guild, name: str, *, permissions: int = 0) -> Role:
        """A role of ``guild`` nobody holds yet (``give_role``); push_guilds() after READY."""
        role = Role(self.snowflake(), name, permissions)
        guild.roles[role.id] = role
        return role

    def give_role(self, guild: Guild, user: User, role: Role) -> Member:
        """``user`` (a member of ``guild``, made one if not yet) now holds ``role``."""
        member = self.members.get((guild.id, user.id)) or self.add_member(guild, user)
        if role.id not in member.role_ids:
            member.role_ids.append(role.id)
        return member

    def dm_channel(self, user: User) -> Channel:
        for channel in self.channels.values():
            if channel.is_dm and channel.recipient_id == user.id:
                return channel
        channel = Channel(id=self.snowflake(), name="", type=1, recipient_id=user.id)
        self.channels[channel.id] = channel
        return channel

    # -- permissions and limits ------------------------------------------------------------
    @staticmethod
    @cache
    def perm(name: str) -> int:
        return discord.Permissions(**{name: True}).value

    def member_permissions(self, guild: Guild, user: User) -> int:
        """Guild-wide permissions of a member: @everyone plus roles; everything for owners."""
        member = self.members.get((guild.id, user.id))
        if member is None:
            raise LookupError(f"{user.name} is not a member of {guild.name}")
        roles = 0
        for role_id in member.role_ids:
            roles |= guild.roles[role_id].permissions
        return payloads.everyone_permissions(guild, user.id == guild.owner_id, roles)

    def bot_permissions_in(self, channel: Channel) -> int:
        if channel.is_dm:
            return DM_PERMISSIONS
        guild = self.guilds[channel.guild_id or 0]
        base = guild.everyone_permissions | guild.bot_permissions
        if base & ADMINISTRATOR:
            return ALL_PERMISSIONS
        target = self.channels[channel.parent_id] if channel.parent_id else channel
        return base if target.bot_permissions is None else target.bot_permissions

    def upload_limit_for(self, channel: Channel) -> int:
        guild = self.guilds.get(channel.guild_id or 0)
        if guild is None:
            return self.limits.upload_limit
        if guild.upload_limit is not None:
            return guild.upload_limit
        return TIER_UPLOAD_LIMITS.get(guild.premium_tier, self.limits.upload_limit)

    # -- gateway payloads ------------------------------------------------------------------
    def payload_current_user(self) -> dict[str, Any]:
        return payloads.current_user(self.bot_user)

    def payload_members(self, guild_id: int, *, everyone: bool) -> list[dict[str, Any]]:
        return [
            payloads.member(m, self.users[m.user_id])
            for (g, user_id), m in self.members.items()
            if g == guild_id and (everyone or user_id == self.bot_user.id)
        ]

    def payload_guild_create(self, guild_id: int, intents: int) -> dict[str, Any]:
        guild = self.guilds[guild_id]
        channels = [c for c in self.channels.values() if c.guild_id == guild_id]
        # Without the members intent GUILD_CREATE carries only the bot's own member.
        members = self.payload_members(guild_id, everyone=bool(intents & GUILD_MEMBERS))
        bot_member = self.members[(guild_id, self.bot_user.id)]
        return payloads.guild_create(guild, channels, members, iso(bot_member.joined_at))

    # -- driving the bot -------------------------------------------------------------------
    async def invoke(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user: User | None = None,
        guild: Guild | None = None,
        channel: Channel | None = None,
        subcommand: str | None = None,
        attachments: Sequence[UploadLike] = (),
        app_permissions: int | None = None,
        locale: str | None = None,
        ignore_default_permissions: bool = False,
    ) -> InteractionRecord:
        """A user runs ``/name [subcommand] options…``; built from the synced command, so option
        types, choices and bounds come from what the bot registered. Attachment options take an
        Upload or a (filename, bytes[, content_type]) tuple, in ``options`` or ``attachments``."""
        channel = self._pick_channel(channel, guild)
        user = user or self.user
        command, guild_scoped = opts.find_command(self, name, channel)
        opts.check_available(self, command, channel, user, ignore_default_permissions)
        definitions, wrap = opts.subcommand_path(command, subcommand)
        resolved: dict[str, dict[str, Any]] = {}
        built = opts.build_options(
            self,
            definitions,
            dict(options or {}),
            resolved,
            list(attachments),
            channel,
            focused=None,
        )
        data: dict[str, Any] = {
            "id": command["id"],
            "name": name,
            "type": 1,
            "options": wrap(built),
        }
        if resolved:
            data["resolved"] = resolved
        if guild_scoped:
            data["guild_id"] = str(channel.guild_id)  # else discord.py: CommandNotFound
        return await self._dispatch_interaction(
            2, name, data, user, channel, app_permissions, locale
        )

    async def autocomplete(
        self,
        name: str,
        focused: str,
        value: str = "",
        options: Mapping[str, Any] | None = None,
        *,
        user: User | None = None,
        guild: Guild | None = None,
        channel: Channel | None = None,
        subcommand: str | None = None,
        locale: str | None = None,
    ) -> InteractionRecord:
        """A user types ``value`` into option ``focused``; the record's ``choices`` get the
        bot's answer (validated: ≤ 25, names 1-100, values of the option's type)."""
        channel = self._pick_channel(channel, guild)
        user = user or self.user
        command, guild_scoped = opts.find_command(self, name, channel)
        opts.check_available(self, command, channel, user, False)
        definitions, wrap = opts.subcommand_path(command, subcommand)
        definition = next((d for d in definitions if d["name"] == focused), None)
        if definition is None or not definition.get("autocomplete"):
            raise ValueError(f"option {focused!r} of /{name} has no autocomplete")
        values = {**(options or {}), focused: value}
        built = opts.build_options(self, definitions, values, {}, [], channel, focused=focused)
        data: dict[str, Any] = {
            "id": command["id"],
            "name": name,
            "type": 1,
            "options": wrap(built),
        }
        if guild_scoped:
            data["guild_id"] = str(channel.guild_id)
        return await self._dispatch_interaction(4, name, data, user, channel, None, locale)

    async def click(
        self,
        message: StoredMessage | int,
        custom_id: str,
        *,
        user: User | None = None,
        values: Sequence[str] | None = None,
        locale: str | None = None,
    ) -> InteractionRecord:
        """A user presses a button (or picks ``values`` in a select) on a stored message."""
        stored = self.messages.get(_id(message))
        if stored is None or stored.deleted:
            raise LookupError(f"message {_id(message)} does not exist (any more)")
        component = next(
            (c for c in walk_components(stored.components) if c.get("custom_id") == custom_id),
            None,
        )
        if component is None:
            raise LookupError(f"message {stored.id} has no component {custom_id!r}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled; users cannot press it")
        user = user or self.user
        if stored.ephemeral and stored.interaction_id is not None:
            owner = self.interactions[stored.interaction_id].user_id
            if owner != user.id:
                raise LookupError("only the invoking user sees an ephemeral message")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] in (3, 5, 6, 7, 8):
            data["values"] = opts.select_values(component, values)
        elif values is not None:
            raise ValueError("values only apply to select menus")
        channel = self.channels[stored.channel_id]
        return await self._dispatch_interaction(
            3, custom_id, data, user, channel, None, locale, message=stored
        )

    async def submit_modal(
        self,
        record: InteractionRecord,
        values: Mapping[str, str | Sequence[str]],
        *,
        user: User | None = None,
    ) -> InteractionRecord:
        """Submit the modal the bot opened in answer to ``record``."""
        if record.modal is None:
            raise ValueError("the bot opened no modal for this interaction")
        modal = record.modal
        data = {
            "custom_id": modal["custom_id"],
            "components": [opts.modal_answer(c, values) for c in modal["components"]],
        }
        raw = record.payload.get("message")
        message = self.messages.get(int(raw["id"])) if raw else None
        return await self._dispatch_interaction(
            5,
            modal["custom_id"],
            data,
            user or self.users[record.user_id],
            self.channels[record.channel_id],
            None,
            None,
            message=message,
        )

    async def post_message(
        self, channel: Channel, content: str, *, user: User | None = None
    ) -> StoredMessage:
        """A user writes in a channel (MESSAGE_CREATE; content only with that intent)."""
        return await self.store.create(
            channel=channel,
            author=user or self.user,
            payload={"content": content},
            files=[],
            via="user",
            call=None,
            upload_limit=self.upload_limit_for(channel),
        )

    async def delete_message(self, message: StoredMessage | int) -> None:
        """Someone deletes a message (e.g. the bot's, mid-progress): later edits get 10008."""
        stored = self.messages.get(_id(message))
        if stored is None:
            raise LookupError(f"message {_id(message)} does not exist")
        await self.store.delete(stored)

    async def push_guilds(self) -> None:
        """Send GUILD_CREATE again, so a world grown after READY reaches the bot's cache."""
        session = self.gateway.current
        if session is None:
            raise RuntimeError("no gateway session to push to")
        for guild_id in self.guilds:
            await self.gateway.dispatch(
                "GUILD_CREATE", self.payload_guild_create(guild_id, session.intents)
            )

    async def drop_gateway(self, *, code: int = 4000, resumable: bool = True) -> None:
        await self.gateway.drop(code=code, resumable=resumable)

    # -- helpers for the drivers -----------------------------------------------------------
    def _pick_channel(self, channel: Channel | None, guild: Guild | None) -> Channel:
        if channel is not None:
            return channel
        if guild is None or guild.id == self.guild.id:
            return self.channel
        for candidate in self.channels.values():
            if candidate.guild_id == guild.id and candidate.type == 0:
                return candidate
        raise LookupError(f"guild {guild.name} has no text channel")

    async def _dispatch_interaction(
        self,
        kind: int,
        name: str,
        data: dict[str, Any],
        user: User,
        channel: Channel,
        app_permissions: int | None,
        locale: str | None,
        *,
        message: StoredMessage | None = None,
    ) -> InteractionRecord:
        await self.wait_until(lambda: self.gateway.all_ready, 5.0, "a READY gateway session")
        guild = self.guilds.get(channel.guild_id or 0)
        member_payload = None
        recipient = None
        if guild is not None:
            member = self.members.get((guild.id, user.id))
            if member is None:
                raise LookupError(f"{user.name} is not a member of {guild.name}")
            member_payload = payloads.member(member, user, self.member_permissions(guild, user))
        else:
            recipient = user
        interaction_id = self.snowflake()
        token = f"interaction-token-{secrets.token_urlsafe(24)}"
        payload = payloads.interaction(
            interaction_id=interaction_id,
            kind=kind,
            token=token,
            application_id=self.application_id,
            data=data,
            u=user,
            member_payload=member_payload,
            ch=channel,
            g=guild,
            app_permissions=(
                self.bot_permissions_in(channel) if app_permissions is None else app_permissions
            ),
            attachment_size_limit=self.upload_limit_for(channel),
            locale=locale or user.locale,
            recipient=recipient,
            message_payload=self.store.payload(message) if message is not None else None,
        )
        now = self.loop_time()
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=kind,
            name=name,
            user_id=user.id,
            guild_id=guild.id if guild else None,
            channel_id=channel.id,
            dispatched_at=now,
            deadline=now + self.limits.response_deadline,
            expires_at=now + self.limits.token_lifetime,
            payload=payload,
            double=self,
        )
        self.interactions[interaction_id] = record
        self.interactions_by_token[token] = record
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_at(record.deadline, self._check_acknowledged, record))
        # Wakes waits on token_expired / deadline_passed without polling.
        self._timers.append(loop.call_at(record.expires_at, self.notify))
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return record

    def _check_acknowledged(self, record: InteractionRecord) -> None:
        if record.response is None:
            self.violate(
                Rule.NO_RESPONSE,
                0,
                0,
                f"{record.name!r} not acknowledged within {self.limits.response_deadline}s: "
                "the user sees 'The application did not respond'",
                interaction_id=record.id,
            )
        self.notify()


async def _shut_down(
    client: discord.Client,
    task: asyncio.Task[None],
    ready: asyncio.Task[None],
    timeout: float,
    *,
    quiet: bool,
) -> None:
    ready.cancel()
    await client.close()
    try:
        await asyncio.wait_for(task, timeout)
    except Exception:
        if not quiet:
            raise


def _id(thing: Any) -> int:
    return thing if isinstance(thing, int) else thing.id
