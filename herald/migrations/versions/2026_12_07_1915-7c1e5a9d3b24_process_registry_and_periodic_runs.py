"""process registry and periodic runs

Revision ID: 7c1e5a9d3b24
Revises: b7e4a1c93d52
Created: 2026-12-07 19:10:00

The registry of live Herald processes (`processes`), which process holds each claimed job and
message (`claimed_by`), and `periodic_runs`, which lets several schedulers run each periodic task
once per period (issue 19). Online on PostgreSQL: new tables, and nullable columns without a
default on `jobs` and `messages`, a catalogue change that rewrites nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db

revision: str = "7c1e5a9d3b24"
down_revision: str | None = "b7e4a1c93d52"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "processes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reaped_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processes")),
    )
    with op.batch_alter_table("processes") as batch_op:
        batch_op.create_index("ix_processes_heartbeat_at", ["heartbeat_at"], unique=False)
    op.create_table(
        "periodic_runs",
        sa.Column("task", sa.String(length=100), nullable=False),
        sa.Column("period", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("process_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task", "period", name=op.f("pk_periodic_runs")),
    )
    for table in ("jobs", "messages"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("claimed_by", sa.Uuid(), nullable=True))


def downgrade() -> None:
    for table in ("messages", "jobs"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("claimed_by")
    op.drop_table("periodic_runs")
    with op.batch_alter_table("processes") as batch_op:
        batch_op.drop_index("ix_processes_heartbeat_at")
    op.drop_table("processes")
