"""jobs listed by organization and kind

Revision ID: 4b8f2c9e1d07
Revises: 9d3e41c7b2a8
Created: 2026-12-07 02:45:00

The Imports screen lists an organization's import jobs newest first; without this index the
list sorted every job of the organization, segment recomputes included.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "4b8f2c9e1d07"
down_revision: str | None = "9d3e41c7b2a8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_jobs_org_id_kind_created_at", "jobs", ["org_id", "kind", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_org_id_kind_created_at", table_name="jobs")
