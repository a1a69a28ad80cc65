"""campaign test sends

Revision ID: 5d2b8e6f0a17
Revises: 7c1e5a9d3b24
Created: 2026-12-07 22:40:00

A campaign's test send gets a source of its own, `campaign_test` (issue 20): it was recorded as a
`transactional` message, and its page said "Transactional API". `messages.source` is a plain
string column (no enum or check constraint), so only the existing test sends are relabelled:
they are the transactional messages whose idempotency key the test send made
(`campaign-test:<campaign id>:<uuid>`). Analytics rollups keyed by the old source are put right by
`herald analytics rebuild`.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5d2b8e6f0a17"
down_revision: str | None = "7c1e5a9d3b24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE messages SET source = 'campaign_test' "
        "WHERE source = 'transactional' AND idempotency_key LIKE 'campaign-test:%'"
    )


def downgrade() -> None:
    op.execute("UPDATE messages SET source = 'transactional' WHERE source = 'campaign_test'")
