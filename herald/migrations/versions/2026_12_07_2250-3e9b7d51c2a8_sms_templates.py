"""sms templates

Revision ID: 3e9b7d51c2a8
Revises: 3e8d5b1a7c64
Created: 2026-12-07 22:30:00

Saved SMS texts (`sms_templates`), used by SMS campaigns and the flow SMS step. A new table:
online on PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db

revision: str = "3e9b7d51c2a8"
down_revision: str | None = "3e8d5b1a7c64"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("media_urls", herald.db.JSONType, nullable=False),
        sa.Column("created_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_sms_templates_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_templates")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_sms_templates_org_id_name")),
    )


def downgrade() -> None:
    op.drop_table("sms_templates")
