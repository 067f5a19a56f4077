"""Alembic environment: migrations run on storage's own async engine, all in one transaction."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection

from storage.engine import engine_for
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    # storage.migrate passes the URL as an attribute: a URL in the ini-style main options would have
    # every "%" in a password read as interpolation.
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: use storage.migrate.alembic_config(url)")
    return str(url)


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table (copy, drop, rename).
        render_as_batch=True,
        # Our engine emits BEGIN itself on SQLite, so DDL is transactional there too: a failed
        # migration leaves the previous schema, not half of the new one.
        transactional_ddl=True if sqlite else None,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            # Foreign keys were off for batch mode's rebuilds: check that nothing broke.
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"migration left rows with broken foreign keys: {broken[:5]}")


async def run_async_migrations() -> None:
    engine = engine_for(_url(), enforce_foreign_keys=False, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_async_migrations())
