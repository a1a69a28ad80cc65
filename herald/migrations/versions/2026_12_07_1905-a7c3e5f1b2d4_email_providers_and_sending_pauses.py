"""email providers and sending pauses

Revision ID: a7c3e5f1b2d4
Revises: aff4fca24bcd
Created: 2026-12-07 19:00:00

An organization's ordered email providers with their circuit breakers' state, the deliverability
guard's pause, and the provider a message may only be retried through (issue 16).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db

revision: str = "a7c3e5f1b2d4"
down_revision: str | None = "aff4fca24bcd"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_providers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("per_second", sa.Integer(), nullable=True),
        sa.Column("per_day", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("probe_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_started_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_attempts", sa.Integer(), nullable=False),
        sa.Column("window_errors", sa.Integer(), nullable=False),
        sa.Column("sent_total", sa.BigInteger(), nullable=False),
        sa.Column("failed_total", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_email_providers_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_providers")),
    )
    op.create_index("ix_email_providers_org_id_position", "email_providers", ["org_id", "position"])
    op.create_table(
        "email_sending_pauses",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("paused_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resumed_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_email_sending_pauses_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_email_sending_pauses")),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("unsure_provider_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("unsure_provider_id")
    op.drop_table("email_sending_pauses")
    op.drop_index("ix_email_providers_org_id_position", table_name="email_providers")
    op.drop_table("email_providers")
