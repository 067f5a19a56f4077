"""The token never reaches the log: read from a real bot process's stderr, not a test handler."""

from __future__ import annotations

import asyncio

import pytest

from tests.bot.test_bot_crash import start_bot_process
from tests.discord_double import DiscordDouble

pytestmark = pytest.mark.slow


async def test_a_token_quoted_back_by_discord_is_redacted_in_the_real_log(tmp_path, database_url):
    log = tmp_path / "bot.log"
    async with DiscordDouble() as double:
        # The command sync at start is answered with an error page quoting the request, token
        # and all: the bot cannot start, and says why in its log.
        double.inject_server_errors(
            1.0, status=400, routes={"sync_guild_commands"}, echo_request=True
        )
        # In-process GPU work: the start fails after the models load, and a child adds nothing.
        process = await start_bot_process(
            double, database_url, log, extra_env={"LCM_WORKER": "thread"}
        )
        status = await asyncio.wait_for(process.wait(), 300)
    text = log.read_text()
    assert status != 0, text[-3000:]
    assert double.token not in text
    # The line that quoted it is there, the token replaced: redaction ran on the real output.
    assert "Authorization: Bot [redacted]" in text, text[-3000:]
    assert all(line.startswith("{") for line in text.splitlines()), "JSON logs: no stray text"
