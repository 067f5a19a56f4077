"""Link re-rolls and variations to their parent job with a foreign key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from storage.migrate import keep_sqlite_sequence

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Batch mode rebuilds `jobs` on SQLite; the rebuilt table must keep AUTOINCREMENT (see models.Job).
_JOBS_TABLE = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with (
        keep_sqlite_sequence("jobs"),
        op.batch_alter_table("jobs", table_kwargs=_JOBS_TABLE) as jobs,
    ):
        jobs.create_foreign_key(
            op.f("fk_jobs_parent_id_jobs"), "jobs", ["parent_id"], ["id"], ondelete="SET NULL"
        )
        # Deleting a job looks up its re-rolls to clear their link; without this that is a scan.
        jobs.create_index("ix_jobs_parent_id", ["parent_id"])


def downgrade() -> None:
    with (
        keep_sqlite_sequence("jobs"),
        op.batch_alter_table("jobs", table_kwargs=_JOBS_TABLE) as jobs,
    ):
        jobs.drop_index("ix_jobs_parent_id")
        jobs.drop_constraint(op.f("fk_jobs_parent_id_jobs"), type_="foreignkey")
