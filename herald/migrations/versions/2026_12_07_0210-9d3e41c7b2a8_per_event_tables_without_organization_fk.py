"""per-event tables without a foreign key to organizations

Revision ID: 9d3e41c7b2a8
Revises: 7c1e5b2a9d40
Created: 2026-12-07 02:10:00

Every row stored in `events`, `event_keys` or `profile_changes` checked its `org_id` against the
organization's row, and on PostgreSQL a foreign-key check share-locks the row it finds: with
concurrent batches of one organization, all of them lock that one row for every event, which
PostgreSQL records as a MultiXact shared by the transactions. bench/ingest.py measured it at a
fifth to a quarter of PostgreSQL's CPU time per event. The organization still owns the rows
(`org_id` is unchanged and every query is scoped by it); an event's person is still a foreign
key, and an organization's events still go with its profiles.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9d3e41c7b2a8"
down_revision: str | None = "7c1e5b2a9d40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("events", "event_keys", "profile_changes")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_org_id_organizations", type_="foreignkey")


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_foreign_key(
                f"fk_{table}_org_id_organizations",
                "organizations",
                ["org_id"],
                ["id"],
                ondelete="CASCADE",
            )
