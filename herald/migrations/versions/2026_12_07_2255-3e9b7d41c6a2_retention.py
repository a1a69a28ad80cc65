"""retention and message handoffs

Revision ID: 3e9b7d41c6a2
Revises: 3e9b7d51c2a8
Created: 2026-12-07 22:30:00

Each organization's retention settings, the conversion events kept when raw events are pruned,
and the journal of messages a provider accepted whose outcome is not recorded yet (issue 19).
Online on PostgreSQL: three new tables, nothing rewritten.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db

revision: str = "3e9b7d41c6a2"
down_revision: str | None = "3e9b7d51c2a8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_settings",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("events_months", sa.SmallInteger(), nullable=True),
        sa.Column("message_bodies_days", sa.SmallInteger(), nullable=True),
        sa.Column("events_pruned_before", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_retention_settings_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_retention_settings")),
    )
    op.create_table(
        "retained_conversions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("time", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=True),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name=op.f("fk_retained_conversions_profile_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retained_conversions")),
    )
    with op.batch_alter_table("retained_conversions") as batch_op:
        batch_op.create_index(
            "ix_retained_conversions_org_id_name_time", ["org_id", "name", "time"], unique=False
        )

    op.create_table(
        "message_handoffs",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("accepted_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", "attempt", name=op.f("pk_message_handoffs")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # The journal guards against a killed sender, not a database crash (after which its
        # messages are sent again, as before it existed): no WAL for its rows, which come and go
        # once per message sent.
        op.execute("ALTER TABLE message_handoffs SET UNLOGGED")


def downgrade() -> None:
    op.drop_table("message_handoffs")
    with op.batch_alter_table("retained_conversions") as batch_op:
        batch_op.drop_index("ix_retained_conversions_org_id_name_time")
    op.drop_table("retained_conversions")
    op.drop_table("retention_settings")
