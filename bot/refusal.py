"""What a user is told when a job is not admitted, whichever way it came in."""

from __future__ import annotations

import discord
from sqlalchemy.exc import SQLAlchemyError

from generation.engine.fair_queue import QueueFull
from generation.errors import GenerationError
from storage.errors import StorageError


class Refusal(Exception):
    """A request the bot turns down with a message for the user (sent privately)."""


# Errors whose text is written for the user already: a refusal, not a fault of the bot.
USER_FACING = (Refusal, GenerationError, QueueFull, StorageError)


def is_refusal(exc: BaseException) -> bool:
    """True when ``exc`` is the user's request turned down, False when something broke."""
    return isinstance(exc, USER_FACING)


def failure_text(what: str, exc: BaseException) -> str:
    """One sentence for the user about ``exc``, which stopped ``what``."""
    if is_refusal(exc):
        return str(exc)
    if isinstance(exc, SQLAlchemyError):
        return (
            f"{what} failed: the job history could not be read or written (a storage error). "
            "Try again in a moment; the operator can see the details in the log."
        )
    if isinstance(exc, discord.HTTPException):
        return (
            f"{what} failed: Discord refused a request ({exc.status}: {exc.text or 'no reason'})."
        )
    return f"{what} failed on my side; the operator can see the details in the log."
