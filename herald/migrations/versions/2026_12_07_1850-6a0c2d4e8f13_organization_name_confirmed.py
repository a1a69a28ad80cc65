"""organization name confirmed

Revision ID: 6a0c2d4e8f13
Revises: 23e9168b0d4f
Created: 2026-12-07 18:40:00

Whether an organization's name is still the placeholder of `herald run`'s first start (issue 19):
the dashboard asks the owner for the real name, which email footers show. Existing organizations
count as confirmed (their names were chosen, or have been in use), so nobody is asked again. Adding
a column with a constant default is a catalogue change on PostgreSQL 11+, not a table rewrite.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6a0c2d4e8f13"
down_revision: str | None = "23e9168b0d4f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.add_column(
            sa.Column("name_confirmed", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("organizations") as batch:
        batch.drop_column("name_confirmed")
