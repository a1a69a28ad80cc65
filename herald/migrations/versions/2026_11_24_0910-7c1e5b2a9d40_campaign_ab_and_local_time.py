"""campaign A/B results, local-time sending, conversion metric

Revision ID: 7c1e5b2a9d40
Revises: 376de1f560d6
Created: 2026-11-24 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db

revision: str = "7c1e5b2a9d40"
down_revision: str | None = "376de1f560d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("ab_result", herald.db.JSONType, nullable=True))
        batch.add_column(
            sa.Column("ab_decide_at", herald.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("local_send_at", sa.DateTime(timezone=False), nullable=True))
        batch.add_column(sa.Column("local_grace_minutes", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column(
                "conversion_metric",
                sa.String(length=255),
                nullable=False,
                server_default="Placed Order",
            )
        )
    # Stats and attribution go from a message to its recipient row.
    op.create_index(
        "ix_campaign_recipients_message_id", "campaign_recipients", ["message_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_recipients_message_id", table_name="campaign_recipients")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("conversion_metric")
        batch.drop_column("local_grace_minutes")
        batch.drop_column("local_send_at")
        batch.drop_column("ab_decide_at")
        batch.drop_column("ab_result")
