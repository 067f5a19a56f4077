"""A strict loopback Discord (REST + gateway) for driving the real discord.py client in tests."""

from .double import DiscordDouble, StrictViolation
from .limits import MIB, DiscordError, Limits, Rule, Upload
from .state import (
    Channel,
    Guild,
    InitialResponse,
    InjectedFault,
    InteractionRecord,
    Member,
    MessageVersion,
    Ping,
    RestCall,
    Role,
    StoredAttachment,
    StoredMessage,
    User,
    Violation,
)

__all__ = [
    "MIB",
    "Channel",
    "DiscordDouble",
    "DiscordError",
    "Guild",
    "InitialResponse",
    "InjectedFault",
    "InteractionRecord",
    "Limits",
    "Member",
    "MessageVersion",
    "Ping",
    "RestCall",
    "Role",
    "Rule",
    "StoredAttachment",
    "StoredMessage",
    "StrictViolation",
    "Upload",
    "User",
    "Violation",
]
