"""organization rate limits

Revision ID: 55ef50ce68e1
Revises: 4b8f2c9e1d07
Created: 2026-12-07 15:41:32

The limits an organization's owner set for it (issue 18); an organization without a row, or a
null column, uses the install's defaults.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db

revision: str = "55ef50ce68e1"
down_revision: str | None = "4b8f2c9e1d07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIMIT_COLUMNS = [
    f"{kind}_{scope}_per_{window}"
    for kind in ("ingestion", "management")
    for scope in ("organization", "key")
    for window in ("second", "minute")
]


def upgrade() -> None:
    op.create_table(
        "organization_rate_limits",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=True) for name in LIMIT_COLUMNS),
        sa.Column("updated_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_organization_rate_limits_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_organization_rate_limits")),
    )


def downgrade() -> None:
    op.drop_table("organization_rate_limits")
