"""Limits by role and channel, daily quotas per member (issue 14), and a server's sweep size.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ids(*names: str) -> list[sa.Column]:
    return [sa.Column(name, sa.BigInteger(), autoincrement=False, nullable=False) for name in names]


def _updated_at() -> sa.Column:
    return sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "role_limits",
        *_ids("guild_id", "role_id"),
        *(
            sa.Column(name, sa.Integer(), nullable=True)
            for name in (
                "cooldown_seconds",
                "max_queued_per_user",
                "max_count",
                "max_steps",
                "max_side",
                "daily_images",
            )
        ),
        _updated_at(),
        sa.PrimaryKeyConstraint("guild_id", "role_id", name=op.f("pk_role_limits")),
    )
    op.create_table(
        "channel_rules",
        *_ids("guild_id", "channel_id"),
        sa.Column(
            "access",
            sa.Enum(
                "allow",
                "deny",
                name="channel_access",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("preset_id", sa.Integer(), nullable=True),
        sa.Column("style", sa.String(length=100), nullable=True),
        _updated_at(),
        sa.ForeignKeyConstraint(
            ["preset_id"],
            ["presets.id"],
            name=op.f("fk_channel_rules_preset_id_presets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("guild_id", "channel_id", name=op.f("pk_channel_rules")),
    )
    op.create_table(
        "quota_settings",
        *_ids("guild_id"),
        sa.Column("daily_images", sa.Integer(), nullable=True),
        sa.Column("reset_hour", sa.Integer(), server_default="0", nullable=False),
        _updated_at(),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_quota_settings")),
    )
    op.create_table(
        "quota_usage",
        *_ids("guild_id", "user_id"),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("guild_id", "user_id", name=op.f("pk_quota_usage")),
    )

    with op.batch_alter_table("guilds") as guilds:
        guilds.add_column(sa.Column("max_sweep_cells", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("guilds") as guilds:
        guilds.drop_column("max_sweep_cells")
    for table in ("quota_usage", "quota_settings", "channel_rules", "role_limits"):
        op.drop_table(table)
