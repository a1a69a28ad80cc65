"""profiles and events

Revision ID: 0a17dce92a1e
Revises: cfd892df66ce
Created: 2026-11-24 04:03:26.994199
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

import herald.db

revision: str = "0a17dce92a1e"
down_revision: str | None = "cfd892df66ce"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_keys",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("unique_id", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", herald.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_event_keys_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "unique_id", name=op.f("pk_event_keys")),
    )
    with op.batch_alter_table("event_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_keys_profile_id"), ["profile_id"], unique=False)
    op.create_table(
        "metrics",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_at", herald.db.UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", herald.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_metrics_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
        sa.UniqueConstraint("org_id", "name", "shard", name=op.f("uq_metrics_org_id_name_shard")),
    )
    op.create_table(
        "profile_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column(
            "event_names",
            herald.db.JSONType,
            nullable=True,
        ),
        sa.Column("created_at", herald.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_profile_changes_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_changes")),
    )
    with op.batch_alter_table("profile_changes", schema=None) as batch_op:
        batch_op.create_index("ix_profile_changes_org_id_id", ["org_id", "id"], unique=False)

    op.create_table(
        "profiles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("first_name", sa.String(length=255), nullable=True),
        sa.Column("last_name", sa.String(length=255), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("address1", sa.String(length=255), nullable=True),
        sa.Column("address2", sa.String(length=255), nullable=True),
        sa.Column("city", sa.String(length=255), nullable=True),
        sa.Column("region", sa.String(length=255), nullable=True),
        sa.Column("country", sa.String(length=255), nullable=True),
        sa.Column("zip", sa.String(length=64), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column(
            "properties",
            herald.db.JSONType,
            nullable=False,
        ),
        sa.Column("merged_into_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", herald.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", herald.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["profiles.id"],
            name=op.f("fk_profiles_merged_into_id_profiles"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_profiles_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
        sa.UniqueConstraint("org_id", "email", name=op.f("uq_profiles_org_id_email")),
        sa.UniqueConstraint("org_id", "external_id", name=op.f("uq_profiles_org_id_external_id")),
        sa.UniqueConstraint("org_id", "phone", name=op.f("uq_profiles_org_id_phone")),
    )
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_profiles_merged_into_id"), ["merged_into_id"], unique=False
        )
        batch_op.create_index(
            "ix_profiles_org_id_created_at", ["org_id", "created_at"], unique=False
        )

    op.create_table(
        "events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("time", herald.db.UTCDateTime(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "properties",
            herald.db.JSONType,
            nullable=False,
        ),
        sa.Column("value", sa.Numeric(precision=18, scale=6, asdecimal=False), nullable=True),
        sa.Column("unique_id", sa.String(length=255), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("received_at", herald.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_events_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name=op.f("fk_events_profile_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", "time", name=op.f("pk_events")),
        postgresql_partition_by="RANGE (time)",
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_org_id_name_time", ["org_id", "name", "time"], unique=False
        )
        batch_op.create_index(
            "ix_events_org_id_profile_id_name_time",
            ["org_id", "profile_id", "name", "time"],
            unique=False,
        )
        batch_op.create_index("ix_events_org_id_time", ["org_id", "time"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        _create_event_partitions()

    op.create_table(
        "job_errors",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("item", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_errors_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_errors")),
    )
    with op.batch_alter_table("job_errors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_errors_job_id"), ["job_id"], unique=False)

    op.create_table(
        "job_files",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_files_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_job_files")),
    )
    op.create_table(
        "profile_anonymous_ids",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("anonymous_id", sa.String(length=255), nullable=False),
        sa.Column("profile_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", herald.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organizations.id"],
            name=op.f("fk_profile_anonymous_ids_org_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["profiles.id"],
            name=op.f("fk_profile_anonymous_ids_profile_id_profiles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "anonymous_id", name=op.f("pk_profile_anonymous_ids")),
    )
    with op.batch_alter_table("profile_anonymous_ids", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_profile_anonymous_ids_profile_id"), ["profile_id"], unique=False
        )


def _create_event_partitions() -> None:
    """An archive partition for old history, then one partition a month from two years back to
    thirteen months ahead; the periodic task `herald.events.partitions` keeps adding months."""
    today = date.today()  # noqa: DTZ011 (a month boundary; the server's day is close enough)
    first = date(today.year - 2, today.month, 1)
    op.execute(
        f"CREATE TABLE events_archive PARTITION OF events "
        f"FOR VALUES FROM (MINVALUE) TO ('{first.isoformat()}+00')"
    )
    start = first
    for _ in range(24 + 14):
        end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        op.execute(
            f"CREATE TABLE events_p{start:%Y_%m} PARTITION OF events "
            f"FOR VALUES FROM ('{start.isoformat()}+00') TO ('{end.isoformat()}+00')"
        )
        start = end


def downgrade() -> None:
    with op.batch_alter_table("profile_anonymous_ids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_anonymous_ids_profile_id"))

    op.drop_table("profile_anonymous_ids")
    op.drop_table("job_files")
    with op.batch_alter_table("job_errors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_errors_job_id"))

    op.drop_table("job_errors")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_org_id_time")
        batch_op.drop_index("ix_events_org_id_profile_id_name_time")
        batch_op.drop_index("ix_events_org_id_name_time")

    op.drop_table("events")
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_profiles_org_id_created_at")
        batch_op.drop_index(batch_op.f("ix_profiles_merged_into_id"))

    op.drop_table("profiles")
    with op.batch_alter_table("profile_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_profile_changes_org_id_id")

    op.drop_table("profile_changes")
    op.drop_table("metrics")
    with op.batch_alter_table("event_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_keys_profile_id"))
    op.drop_table("event_keys")
