"""Where slash commands are synced at start: the listed guilds at once, else globally."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings import Settings


@dataclass(frozen=True)
class SyncPlan:
    """The guilds that get the commands instantly, and whether they are also synced globally."""

    guild_ids: tuple[int, ...]
    global_sync: bool

    def describe(self) -> str:
        """One sentence for the start log and for `doctor`."""
        parts = []
        if self.guild_ids:
            ids = ", ".join(str(guild_id) for guild_id in self.guild_ids)
            parts.append(f"synced to {len(self.guild_ids)} server(s) ({ids}), visible at once")
        if self.global_sync:
            if self.guild_ids:
                parts.append("and globally (Discord can take up to an hour to show them)")
            else:
                # Without this a fresh `.env` synced nothing and the commands never appeared.
                parts.append(
                    "synced globally because DISCORD_GUILD_IDS is empty: Discord can take up to "
                    "an hour to show them; list your server ids in DISCORD_GUILD_IDS to see them "
                    "at once"
                )
        return "slash commands: " + " ".join(parts)


def plan_sync(settings: Settings) -> SyncPlan:
    """Guild ids sync instantly; with none listed, a global sync so the commands appear at all."""
    guild_ids = tuple(settings.guild_ids())
    return SyncPlan(guild_ids=guild_ids, global_sync=settings.discord_global_sync or not guild_ids)
