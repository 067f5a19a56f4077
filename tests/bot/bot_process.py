"""The real bot (`bot.run.serve`) in a process of its own against a loopback double (kill -9).

The double's addresses come in LCM_TEST_API and LCM_TEST_GATEWAY; everything else is the bot's
ordinary settings from the environment.
"""

from __future__ import annotations

import asyncio
import os

import discord.gateway
import discord.http
import yarl

from bot.run import prepare_process, serve
from bot.settings import Settings


def main() -> None:
    discord.http.Route.BASE = os.environ["LCM_TEST_API"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["LCM_TEST_GATEWAY"])
    settings = Settings(_env_file=None)
    prepare_process(settings)  # logging as `lcm-bot run` sets it up
    asyncio.run(serve(settings, guild_ready_timeout=0.05, status_interval_s=0.05))


if __name__ == "__main__":
    main()
