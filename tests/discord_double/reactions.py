"""Reactions in the double: a user reacts to a stored message, and the gateway says so."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import payloads

if TYPE_CHECKING:
    from .double import DiscordDouble
    from .state import StoredMessage, User

GUILD_MESSAGE_REACTIONS = 1 << 10


async def react(double: DiscordDouble, message: StoredMessage, emoji: str, user: User) -> None:
    """``user`` adds ``emoji`` (a unicode emoji) to ``message``: stored (GET message shows the
    count), then MESSAGE_REACTION_ADD for bots with the reactions intent. Once per user."""
    users = message.reactions.setdefault(emoji, [])
    if user.id in users:
        return
    users.append(user.id)
    data = {
        "type": 0,
        "user_id": str(user.id),
        "channel_id": str(message.channel_id),
        "message_id": str(message.id),
        "message_author_id": str(message.author_id),
        "emoji": {"id": None, "name": emoji},
        "burst": False,
        "burst_colors": [],
    }
    if message.guild_id is not None:
        data["guild_id"] = str(message.guild_id)
        member = double.members.get((message.guild_id, user.id))
        if member is not None:
            data["member"] = payloads.member(member, user)
    await double.gateway.dispatch("MESSAGE_REACTION_ADD", data, intent=GUILD_MESSAGE_REACTIONS)
