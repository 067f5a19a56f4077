"""Structured logs: text for people or JSON lines for machines, carrying job and user ids.

Ids travel in a context variable. `bind_log_context(job_id=..., user_id=...)` inside a task adds
them to every record that task logs afterwards (asyncio copies the context into each new task), so
a job's delivery task, and discord.py's own log lines made inside it, carry the job's ids without
threading them through every call. `extra={"job_id": ...}` on one call works too.

The bot token is never written: every formatted line has it replaced, whatever logged it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import IO, Any

# The ids a log line may carry, in the order the text format shows them.
FIELDS = ("job_id", "user_id", "guild_id", "channel_id", "command")
_SHORT = {"job_id": "job", "user_id": "user", "guild_id": "guild", "channel_id": "channel"}
REDACTED = "[redacted]"

_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "lcm_log_context", default=MappingProxyType({})
)


def bind_log_context(**fields: Any) -> Token:
    """Add ids to this task's log context (None values are skipped); returns a reset token."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    return _context.set(MappingProxyType(merged))


def reset_log_context(token: Token) -> None:
    _context.reset(token)


def log_context() -> Mapping[str, Any]:
    return _context.get()


class ContextFilter(logging.Filter):
    """Copy the task's ids onto each record that does not carry its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


class _Redacting(logging.Formatter):
    def __init__(self, *args, secrets: Iterable[str] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Short strings could occur by chance; a bot token is ~70 characters.
        self.secrets = tuple(s for s in secrets if s and len(s) >= 8)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


class TextFormatter(_Redacting):
    """`time LEVEL logger: message [job=12 user=34]`."""

    def __init__(self, *, secrets: Iterable[str] = ()) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets=secrets)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = [
            f"{_SHORT.get(key, key)}={value}"
            for key in FIELDS
            if (value := getattr(record, key, None)) is not None
        ]
        if ids:
            first, newline, rest = text.partition("\n")  # keep ids on the first line
            text = f"{first} [{' '.join(ids)}]{newline}{rest}"
        return self.redact(text)


class JsonFormatter(_Redacting):
    """One JSON object per line: time, level, logger, message, the ids, and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return self.redact(json.dumps(entry, ensure_ascii=False, default=str))


class _LcmHandler(logging.StreamHandler):
    """Marks the handler configure_logging installed, so a second call replaces it."""


def configure_logging(
    format: str = "text",
    level: str = "INFO",
    *,
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send every log record to stderr (or `stream`) in `format` ("text" or "json") at `level`.

    Leaves other handlers alone (pytest's, for example) and replaces the one it added before.
    Progress bars of model downloads are not logging and are left as they are.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _LcmHandler)]:
        root.removeHandler(handler)
    handler = _LcmHandler(stream or sys.stderr)
    formatter = (
        JsonFormatter(secrets=secrets) if format == "json" else TextFormatter(secrets=secrets)
    )
    handler.setFormatter(formatter)
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic announces each of its plugins at INFO on every start; its migration lines stay.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    return handler
