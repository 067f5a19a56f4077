"""Discord JSON shapes the double sends, built from its state (checked against discord.py 2.7)."""

from __future__ import annotations

from typing import Any

from .state import (
    ALL_PERMISSIONS,
    Channel,
    Guild,
    Member,
    MessageVersion,
    StoredAttachment,
    StoredMessage,
    User,
    iso,
)


def user(u: User) -> dict[str, Any]:
    return {
        "id": str(u.id),
        "username": u.name,
        "global_name": None if u.bot else u.name.title(),
        "discriminator": "0",
        "avatar": None,
        "bot": u.bot,
        "public_flags": 0,
    }


def current_user(u: User) -> dict[str, Any]:
    return {**user(u), "verified": True, "mfa_enabled": False, "flags": 0, "locale": u.locale}


def application(app_id: int, bot: User, owner: User) -> dict[str, Any]:
    """GET /oauth2/applications/@me; discord.py's AppInfo needs every key without .get()."""
    return {
        "id": str(app_id),
        "name": bot.name,
        "description": "",
        "icon": None,
        "bot_public": False,
        "bot_require_code_grant": False,
        "owner": user(owner),
        "verify_key": "0" * 64,
        "flags": 0,
        "team": None,
        "bot": user(bot),
        # A set interactions URL would make discord.py warn that the gateway gets no interactions.
        "interactions_endpoint_url": None,
        "integration_types_config": {"0": {}},
    }


def role(r: Any, guild: Guild) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "name": r.name,
        "permissions": str(r.permissions),
        "position": 0 if r.id == guild.id else 1,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "managed": r.managed,
        "mentionable": False,
        "flags": 0,
    }


def channel(c: Channel, guild: Guild | None, recipient: User | None = None) -> dict[str, Any]:
    if c.is_dm:
        return {
            "id": str(c.id),
            "type": 1,
            "last_message_id": None,
            "recipients": [user(recipient)] if recipient else [],
        }
    data: dict[str, Any] = {
        "id": str(c.id),
        "type": c.type,
        "guild_id": str(c.guild_id),
        "name": c.name,
        "position": c.position,
        "nsfw": c.nsfw,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "flags": 0,
    }
    if c.is_thread:
        data |= {
            "parent_id": str(c.parent_id),
            "owner_id": str(c.owner_id or 0),
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": "2024-01-01T00:00:00+00:00",
                "locked": False,
                "invitable": True,
            },
        }
    else:
        data |= {"topic": None, "parent_id": None, "permission_overwrites": []}
        if guild is not None and c.bot_permissions is not None:
            # Express the channel's bot permissions as an overwrite of the bot's role, so that
            # discord.py's channel.permissions_for(guild.me) agrees with app_permissions.
            base = guild.bot_permissions | guild.everyone_permissions
            data["permission_overwrites"] = [
                {
                    "id": str(guild.bot_role_id),
                    "type": 0,
                    "allow": str(c.bot_permissions & ~base),
                    "deny": str(base & ~c.bot_permissions),
                },
                # @everyone grants are denied too, or they would leak through.
                {
                    "id": str(guild.id),
                    "type": 0,
                    "allow": "0",
                    "deny": str(guild.everyone_permissions & ~c.bot_permissions),
                },
            ]
    return data


def member(m: Member, u: User, permissions: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "user": user(u),
        "roles": [str(r) for r in m.role_ids],
        "joined_at": iso(m.joined_at),
        "nick": m.nick,
        "avatar": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "premium_since": None,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def guild_create(
    g: Guild,
    channels: list[Channel],
    members: list[dict[str, Any]],
    joined_at: str,
) -> dict[str, Any]:
    threads = [c for c in channels if c.is_thread]
    return {
        "id": str(g.id),
        "name": g.name,
        "owner_id": str(g.owner_id),
        "unavailable": False,
        "icon": None,
        "splash": None,
        "banner": None,
        "description": None,
        "features": [],
        "premium_tier": g.premium_tier,
        "premium_subscription_count": 0,
        "preferred_locale": g.locale,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "system_channel_id": None,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "large": False,
        "member_count": len(members),
        "joined_at": joined_at,
        "roles": [role(r, g) for r in g.roles.values()],
        "emojis": [],
        "stickers": [],
        "channels": [channel(c, g) for c in channels if not c.is_thread],
        "threads": [channel(c, g) for c in threads],
        "members": members,
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def attachment(a: StoredAttachment) -> dict[str, Any]:
    return {
        "id": str(a.id),
        "filename": a.filename,
        "size": a.size,
        "url": a.url,
        "proxy_url": a.url,
        "content_type": a.content_type,
        "description": a.description,
        "flags": 0,
    }


def message(
    m: StoredMessage,
    author: User,
    *,
    application_id: int | None,
    interaction: dict[str, Any] | None = None,
    version: MessageVersion | None = None,
) -> dict[str, Any]:
    v = version or m.current
    edited = m.history[-1].timestamp if len(m.history) > 1 and version is None else None
    data: dict[str, Any] = {
        "id": str(m.id),
        "channel_id": str(m.channel_id),
        "type": m.type,
        "author": user(author),
        "content": v.content,
        "timestamp": iso(m.history[0].timestamp),
        "edited_timestamp": iso(edited) if edited else None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [attachment(a) for a in v.attachments],
        "embeds": v.embeds,
        "components": v.components,
        "pinned": False,
        "flags": v.flags,
    }
    if m.guild_id is not None:
        data["guild_id"] = str(m.guild_id)
    if m.webhook_id is not None:
        data["webhook_id"] = str(m.webhook_id)
        data["application_id"] = str(application_id)
    if m.nonce is not None:
        data["nonce"] = m.nonce
    if m.reactions:
        data["reactions"] = [
            reaction(emoji, users, me=application_id in users)  # the bot user shares its id
            for emoji, users in m.reactions.items()
            if users
        ]
    if interaction is not None:
        data["interaction_metadata"] = interaction
    return data


def reaction(emoji: str, users: list[int], *, me: bool) -> dict[str, Any]:
    """A message's reaction with one (unicode) emoji, as GET message returns it."""
    return {
        "count": len(users),
        "count_details": {"burst": 0, "normal": len(users)},
        "me": me,
        "me_burst": False,
        "burst_colors": [],
        "emoji": {"id": None, "name": emoji},
    }


def interaction_metadata(kind: int, interaction_id: int, u: User, guild_id: int | None) -> dict:
    owners = {"0": str(guild_id)} if guild_id else {"1": str(u.id)}
    return {
        "id": str(interaction_id),
        "type": kind,
        "user": user(u),
        "authorizing_integration_owners": owners,
    }


def interaction(
    *,
    interaction_id: int,
    kind: int,
    token: str,
    application_id: int,
    data: dict[str, Any] | None,
    u: User,
    member_payload: dict[str, Any] | None,
    ch: Channel,
    g: Guild | None,
    app_permissions: int,
    attachment_size_limit: int,
    locale: str,
    recipient: User | None = None,
    message_payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """INTERACTION_CREATE: the keys discord.py's Interaction._from_data reads without .get()."""
    channel_payload = channel(ch, g, recipient)
    channel_payload["permissions"] = str(app_permissions)
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": kind,
        "token": token,
        "version": 1,
        "channel": channel_payload,
        "channel_id": str(ch.id),
        "app_permissions": str(app_permissions),
        "attachment_size_limit": attachment_size_limit,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "locale": locale,
    }
    if data is not None:
        payload["data"] = data
    if g is not None:
        payload |= {
            "guild_id": str(g.id),
            "guild": {"id": str(g.id), "locale": g.locale, "features": []},
            "guild_locale": g.locale,
            "member": member_payload,
            "authorizing_integration_owners": {"0": str(g.id)},
            "context": 0,
        }
    else:
        payload |= {
            "user": user(u),
            "authorizing_integration_owners": {"0": "0"},
            "context": 1,
        }
    if message_payload is not None:
        payload["message"] = message_payload
    return payload


def everyone_permissions(g: Guild, owner: bool, role_permissions: int) -> int:
    """A member's guild-wide permissions: @everyone plus roles, everything for owners/admins."""
    total = g.everyone_permissions | role_permissions
    if owner or total & (1 << 3):
        return ALL_PERMISSIONS
    return total
