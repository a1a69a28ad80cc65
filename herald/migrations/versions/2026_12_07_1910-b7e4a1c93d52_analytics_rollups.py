"""analytics rollups

Revision ID: b7e4a1c93d52
Revises: a7c3e5f1b2d4
Created: 2026-12-07 19:30:00

Analytics (issue 17): each organization's conversion metric, attribution window and currency;
the hours marked for recomputation; the hourly rollups of messages (per channel and source), of
deliverability (per channel, provider and recipient domain) and of events (per name). Indexes on
messages' sent_at and delivered_at let an hour's sends be counted without a scan. Existing data
is rolled up by `herald analytics rebuild --from ... --to ...`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db

revision: str = "b7e4a1c93d52"
down_revision: str | None = "a7c3e5f1b2d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_settings",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("conversion_metric", sa.String(length=255), nullable=False),
        sa.Column("attribution_window_hours", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("updated_at", herald.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_analytics_settings_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_analytics_settings")),
    )
    op.create_table(
        "analytics_dirty_hours",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("hour", herald.db.UTCDateTime(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("marked_at", herald.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "hour", "shard", name=op.f("pk_analytics_dirty_hours")),
    )
    counts = [
        "recipients",
        "sent",
        "delivered",
        "bounced",
        "soft_bounced",
        "opens_unique",
        "opens_total",
        "opens_machine",
        "clicks_unique",
        "clicks_total",
        "unsubscribes",
        "complaints",
        "conversions",
    ]
    op.create_table(
        "analytics_message_hours",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("hour", herald.db.UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.Uuid(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in counts],
        sa.Column("revenue", sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=False),
        sa.PrimaryKeyConstraint(
            "org_id",
            "hour",
            "channel",
            "source",
            "source_id",
            name=op.f("pk_analytics_message_hours"),
        ),
    )
    with op.batch_alter_table("analytics_message_hours") as batch:
        batch.create_index(
            "ix_analytics_message_hours_org_id_source_id", ["org_id", "source_id"], unique=False
        )
    op.create_table(
        "analytics_delivery_hours",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("hour", herald.db.UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        *[
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "sent",
                "delivered",
                "bounced",
                "soft_bounced",
                "complaints",
                "unsubscribes",
            )
        ],
        sa.PrimaryKeyConstraint(
            "org_id",
            "hour",
            "channel",
            "provider",
            "domain",
            name=op.f("pk_analytics_delivery_hours"),
        ),
    )
    op.create_table(
        "analytics_event_hours",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("hour", herald.db.UTCDateTime(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("value", sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "hour", "name", name=op.f("pk_analytics_event_hours")),
    )
    with op.batch_alter_table("messages") as batch:
        batch.create_index("ix_messages_org_id_sent_at", ["org_id", "sent_at"], unique=False)
        batch.create_index(
            "ix_messages_org_id_delivered_at", ["org_id", "delivered_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_org_id_delivered_at")
        batch.drop_index("ix_messages_org_id_sent_at")
    op.drop_table("analytics_event_hours")
    op.drop_table("analytics_delivery_hours")
    with op.batch_alter_table("analytics_message_hours") as batch:
        batch.drop_index("ix_analytics_message_hours_org_id_source_id")
    op.drop_table("analytics_message_hours")
    op.drop_table("analytics_dirty_hours")
    op.drop_table("analytics_settings")
