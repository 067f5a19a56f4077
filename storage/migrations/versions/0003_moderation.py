"""Server moderation: prompt blocklist, moderators' log channel and showcase (issue 14).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.migrate import keep_sqlite_sequence

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Batch mode rebuilds `jobs` on SQLite; the rebuilt table must keep AUTOINCREMENT (see models.Job).
_JOBS_TABLE = {"sqlite_autoincrement": True}


def _id(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), autoincrement=False, nullable=False)


def _when(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with (
        keep_sqlite_sequence("jobs"),
        op.batch_alter_table("jobs", table_kwargs=_JOBS_TABLE) as jobs,
    ):
        # The seeds of the pictures the safety check flagged (the showcase leaves them out).
        jobs.add_column(sa.Column("flagged_seeds", sa.JSON(), nullable=True))
    op.create_table(
        "moderation_settings",
        _id("guild_id"),
        *(
            sa.Column(name, sa.BigInteger(), nullable=True)
            for name in (
                "log_channel_id",
                "log_channel_set_by",
                "showcase_channel_id",
                "showcase_channel_set_by",
            )
        ),
        sa.Column("showcase_reactions", sa.Integer(), nullable=True),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_moderation_settings")),
    )
    op.create_table(
        "blocklist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "word",
                "regex",
                name="block_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("pattern", sa.String(length=200), nullable=False),
        sa.Column("added_by", sa.BigInteger(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocklist_entries")),
        sa.UniqueConstraint(
            "guild_id", "kind", "pattern", name=op.f("uq_blocklist_entries_guild_id_kind_pattern")
        ),
    )
    op.create_table(
        "mod_log_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("event_key", sa.String(length=100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("thumbnail", sa.LargeBinary(), nullable=True),
        _when("created_at"),
        _when("posted_at", nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mod_log_entries")),
        sa.UniqueConstraint("event_key", name=op.f("uq_mod_log_entries_event_key")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_mod_log_entries_posted_at", "mod_log_entries", ["posted_at"])
    op.create_table(
        "showcase_posts",
        sa.Column("job_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        _when("created_at"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_showcase_posts_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_showcase_posts")),
    )


def downgrade() -> None:
    op.drop_table("showcase_posts")
    op.drop_index("ix_mod_log_entries_posted_at", table_name="mod_log_entries")
    op.drop_table("mod_log_entries")
    op.drop_table("blocklist_entries")
    op.drop_table("moderation_settings")
    with (
        keep_sqlite_sequence("jobs"),
        op.batch_alter_table("jobs", table_kwargs=_JOBS_TABLE) as jobs,
    ):
        jobs.drop_column("flagged_seeds")
