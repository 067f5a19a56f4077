"""The real bot (`bot.run.run`) in a process of its own against a loopback double (kill -9).

The double's addresses come in LCM_TEST_API and LCM_TEST_GATEWAY; everything else is the bot's
ordinary settings from the environment.
"""

from __future__ import annotations

import os
import sys

import discord.gateway
import discord.http
import yarl

from bot.run import run
from bot.settings import Settings


def main() -> None:
    discord.http.Route.BASE = os.environ["LCM_TEST_API"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["LCM_TEST_GATEWAY"])
    settings = Settings(_env_file=None)
    # `lcm-bot run` itself: its logging, its exit statuses, its one-line start failures.
    sys.exit(run(settings, guild_ready_timeout=0.05, status_interval_s=0.05))


if __name__ == "__main__":
    main()
