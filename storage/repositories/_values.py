"""Checks shared by the repositories: plain JSON values, Discord ids, dialect-specific upserts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import InvalidValue

# Discord snowflakes are unsigned 64-bit in the API but never reach 2**63, which BIGINT holds.
_SNOWFLAKE_MAX = 2**63 - 1


def plain_json(value: Mapping[str, Any], what: str) -> dict[str, Any]:
    """A copy of `value` made of JSON types only, or InvalidValue naming what was wrong.

    Checked here so that a stray object (an Enum, a PIL image) fails with a clear message instead of
    deep inside a flush, and NaN is refused because PostgreSQL's json type refuses it too.
    """
    if not isinstance(value, Mapping):
        raise InvalidValue(
            f"{what} must be a mapping of names to values, not {type(value).__name__}"
        )
    try:
        return json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidValue(f"{what} must hold plain JSON values only: {exc}") from None


def snowflake(value: int | None, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _SNOWFLAKE_MAX:
        raise InvalidValue(
            f"{what} must be a Discord id (a non-negative 64-bit integer), not {value!r}"
        )
    return value


def insert_for(session: AsyncSession):
    """The INSERT construct with ON CONFLICT support for the session's database.

    Both dialects spell the upsert the same way (`on_conflict_do_update`), so the repositories stay
    database-neutral while a concurrent upsert of the same key cannot fail on the unique constraint.
    """
    name = session.get_bind().dialect.name
    return postgresql.insert if name == "postgresql" else sqlite.insert
