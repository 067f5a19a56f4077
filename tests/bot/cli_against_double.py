"""`lcm-bot run` itself, with `.env` from the working directory, against the loopback double."""

from __future__ import annotations

import os
import sys

import discord.gateway
import discord.http
import yarl

from bot.cli import main

if __name__ == "__main__":
    # The only difference from the console script: Discord's addresses point at the double.
    discord.http.Route.BASE = os.environ["LCM_TEST_API"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["LCM_TEST_GATEWAY"])
    sys.exit(main(["run"]))
