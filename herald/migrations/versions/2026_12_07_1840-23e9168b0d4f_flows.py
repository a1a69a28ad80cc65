"""flows

Revision ID: 23e9168b0d4f
Revises: 55ef50ce68e1
Created: 2026-12-07 18:40:00

Automation flows (issue 14): flows and their published versions, enrolments (the timer is the
(status, due_at) index), the steps each enrolment took, and each organization's webhook secret.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import herald.db

revision: str = "23e9168b0d4f"
down_revision: str | None = "55ef50ce68e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flow_settings",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("webhook_signing_secret", sa.Text(), nullable=False),
        sa.Column("created_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_flow_settings_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_flow_settings")),
    )
    op.create_table(
        "flows",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger_type", sa.String(length=32), nullable=False),
        sa.Column("definition", herald.db.JSONType, nullable=False),
        sa.Column("layout", herald.db.JSONType, nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("trigger_cursor", sa.BigInteger(), nullable=True),
        sa.Column("date_scanned_until", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("live_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("archived_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_flows_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flows")),
    )
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.create_index("ix_flows_org_id_created_at", ["org_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_flows_status_trigger_type", ["status", "trigger_type"], unique=False
        )

    op.create_table(
        "flow_enrolments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("trigger_key", sa.String(length=300), nullable=False),
        sa.Column("trigger", herald.db.JSONType, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_step", sa.String(length=64), nullable=True),
        sa.Column("due_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("entered_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", herald.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("exit_reason", sa.String(length=255), nullable=True),
        sa.Column("updated_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["flows.id"],
            name=op.f("fk_flow_enrolments_flow_id_flows"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_flow_enrolments_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_enrolments")),
        sa.UniqueConstraint(
            "flow_id", "trigger_key", name=op.f("uq_flow_enrolments_flow_id_trigger_key")
        ),
    )
    with op.batch_alter_table("flow_enrolments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flow_enrolments_flow_id_profile_id_entered_at",
            ["flow_id", "profile_id", "entered_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_flow_enrolments_flow_id_status_current_step",
            ["flow_id", "status", "current_step"],
            unique=False,
        )
        batch_op.create_index(
            "ix_flow_enrolments_org_id_profile_id_status",
            ["org_id", "profile_id", "status"],
            unique=False,
        )
        batch_op.create_index(
            "ix_flow_enrolments_status_due_at", ["status", "due_at"], unique=False
        )

    op.create_table(
        "flow_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", herald.db.JSONType, nullable=False),
        sa.Column("published_at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["flows.id"],
            name=op.f("fk_flow_versions_flow_id_flows"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_flow_versions_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_versions")),
        sa.UniqueConstraint("flow_id", "version", name=op.f("uq_flow_versions_flow_id_version")),
    )
    op.create_table(
        "flow_step_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("enrolment_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("step_type", sa.String(length=32), nullable=False),
        sa.Column("at", herald.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.Column("detail", herald.db.JSONType, nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["flow_enrolments.id"],
            name=op.f("fk_flow_step_runs_enrolment_id_flow_enrolments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["flows.id"],
            name=op.f("fk_flow_step_runs_flow_id_flows"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_flow_step_runs_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_step_runs")),
        sa.UniqueConstraint(
            "enrolment_id", "step_id", name=op.f("uq_flow_step_runs_enrolment_id_step_id")
        ),
    )
    with op.batch_alter_table("flow_step_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flow_step_runs_flow_id_step_id_outcome",
            ["flow_id", "step_id", "outcome"],
            unique=False,
        )
        batch_op.create_index("ix_flow_step_runs_message_id", ["message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("flow_step_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_flow_step_runs_message_id")
        batch_op.drop_index("ix_flow_step_runs_flow_id_step_id_outcome")

    op.drop_table("flow_step_runs")
    op.drop_table("flow_versions")
    with op.batch_alter_table("flow_enrolments", schema=None) as batch_op:
        batch_op.drop_index("ix_flow_enrolments_status_due_at")
        batch_op.drop_index("ix_flow_enrolments_org_id_profile_id_status")
        batch_op.drop_index("ix_flow_enrolments_flow_id_status_current_step")
        batch_op.drop_index("ix_flow_enrolments_flow_id_profile_id_entered_at")

    op.drop_table("flow_enrolments")
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.drop_index("ix_flows_status_trigger_type")
        batch_op.drop_index("ix_flows_org_id_created_at")

    op.drop_table("flows")
    op.drop_table("flow_settings")
