"""Behavioural events, their de-duplication keys and the catalog of event names."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, JSONType, UTCDateTime, new_id, utcnow

# Per-event tables and organizations: the tables that take a row per ingested event (events,
# event_keys, profile_changes) carry org_id without a foreign key to organizations. On PostgreSQL
# a foreign-key check share-locks the row it finds, here the organization's single row for every
# row stored, and concurrent batches of one organization turn that lock into MultiXact work: a
# fifth to a quarter of PostgreSQL's time per event in bench/ingest.py. Queries are scoped by
# org_id as everywhere; removing an organization must delete these rows itself (Herald has no
# such operation yet).


class Event(Base):
    """One thing a person did. On PostgreSQL the table is partitioned by month on `time`, which is
    why `time` is part of the primary key (the migration creates the partitioned table)."""

    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_org_id_profile_id_name_time", "org_id", "profile_id", "name", "time"),
        sa.Index("ix_events_org_id_name_time", "org_id", "name", "time"),
        sa.Index("ix_events_org_id_time", "org_id", "time"),
        {"postgresql_partition_by": "RANGE (time)"},
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    time: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    # No foreign key to organizations (see the note above Event); the profile's key ties the event
    # to its organization, and deleting the organization's profiles deletes its events.
    org_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    profile_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("profiles.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(255))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Revenue or another amount the event carries ("Placed Order" value).
    value: Mapped[float | None] = mapped_column(sa.Numeric(18, 6, asdecimal=False))
    unique_id: Mapped[str | None] = mapped_column(sa.String(255))
    source: Mapped[str] = mapped_column(sa.String(16), default="api")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventKey(Base):
    """A client-supplied event id (`unique_id`, Segment's `messageId`) already stored.

    Separate from the partitioned events table, whose unique constraints would have to include the
    time, so that a retried event is recognised even when its time was filled in by the server.
    """

    __tablename__ = "event_keys"

    # No foreign key to organizations (see the note above Event).
    org_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    unique_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    # The stored event, so that a retry can be answered with the id the first delivery got.
    event_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    profile_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


METRIC_SHARDS = 16


class Metric(Base):
    """The catalog of event names in an organization, kept current by ingestion.

    Each name has up to METRIC_SHARDS counter rows, and a transaction adds to one chosen at
    random: with one row per name, every concurrent request tracking `Viewed Product` would
    queue on that row's lock until the one before it committed. Reads add the shards up.
    """

    __tablename__ = "metrics"
    __table_args__ = (sa.UniqueConstraint("org_id", "name", "shard"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(255))
    shard: Mapped[int] = mapped_column(sa.SmallInteger, default=0)
    event_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
