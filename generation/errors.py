"""Errors the generation core raises; each carries a message a user can read."""

from __future__ import annotations


class GenerationError(Exception):
    """Base class for every error raised by the generation core."""


class InvalidInput(GenerationError, ValueError):
    """A request parameter is out of range or malformed.

    ``parameter`` names the offending argument and ``allowed`` says what is accepted, so the
    bot and the CLI can show one clear line without a traceback.
    """

    def __init__(self, parameter: str, problem: str, allowed: str | None = None) -> None:
        self.parameter = parameter
        self.problem = problem
        self.allowed = allowed
        message = f"{parameter}: {problem}"
        if allowed:
            message += f" (allowed: {allowed})"
        super().__init__(message)


class InvalidImage(InvalidInput):
    """An uploaded image or mask could not be accepted."""


class GenerationCancelled(GenerationError):
    """The step callback asked the running batch to stop."""


class ModelUnavailable(GenerationError):
    """A model family, companion or style is unknown or its files cannot be found."""
