"""Fixtures: a fresh double per test and the sample bot logged in and READY against it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.discord_double import DiscordDouble

from .sample_bot import SampleBot


@pytest.fixture
async def double() -> AsyncIterator[DiscordDouble]:
    async with DiscordDouble() as running:
        yield running


@pytest.fixture
async def bot(double: DiscordDouble) -> AsyncIterator[SampleBot]:
    async with double.running(SampleBot(double.guild.id)) as client:
        yield client
