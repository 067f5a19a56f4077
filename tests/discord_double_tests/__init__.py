"""Tests of the Discord double, driving a small real discord.py bot through it."""
