"""Where in a server the bot may be used: channels allowed or denied by the server's admins."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.refusal import Refusal
from storage.models import ChannelAccess, ChannelRule

MENTIONED = 10  # allowed channels named in a refusal; the rest are counted


def check_channel(rules: Sequence[ChannelRule], channel_id: int, parent_id: int | None) -> None:
    """Refuse where the server denied the bot, or allowed it only elsewhere.

    A thread follows its own rule if it has one, else its parent channel's. Once any channel is
    allowed, the bot works only in allowed channels; a denied channel is refused either way.
    """
    access = {rule.channel_id: rule.access for rule in rules if rule.access is not None}
    here = access.get(channel_id)
    if here is None and parent_id is not None:
        here = access.get(parent_id)
    allowed = sorted(cid for cid, rule in access.items() if rule is ChannelAccess.ALLOW)
    if here is ChannelAccess.ALLOW or (here is None and not allowed):
        return
    if not allowed:
        raise Refusal(
            "This server's admins turned the bot off in this channel: "
            "use it in another channel of this server."
        )
    named = ", ".join(f"<#{cid}>" for cid in allowed[:MENTIONED])
    more = f" and {len(allowed) - MENTIONED} more" if len(allowed) > MENTIONED else ""
    raise Refusal(f"The bot is not used in this channel. Use it in {named}{more}.")


def channel_rule_id(channel: object) -> int | None:
    """Whose default preset applies in ``channel``: a thread takes its parent channel's."""
    parent = getattr(channel, "parent_id", None) if isinstance(channel, discord.Thread) else None
    return parent or getattr(channel, "id", None)
