"""Retention: how long each organization keeps raw events and message bodies, and the conversions
kept after their events were pruned."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, UTCDateTime, utcnow


class RetentionSettings(Base):
    """An organization's retention. No row, or NULL in a column, keeps that data for ever."""

    __tablename__ = "retention_settings"

    org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    # Raw events older than this many months are deleted.
    events_months: Mapped[int | None] = mapped_column(sa.SmallInteger)
    # Message bodies (content, the outbox's stored copies) older than this many days are deleted;
    # the messages, their events and every figure stay.
    message_bodies_days: Mapped[int | None] = mapped_column(sa.SmallInteger)
    # Events before this time have been pruned: analytics never recomputes an hour before it
    # from the (now partial) raw rows, so the rollups of those hours stay as they were.
    events_pruned_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RetainedConversion(Base):
    """A conversion event (an event of a conversion metric: the organization's, or a campaign's)
    kept when retention pruned the raw events around it, so that attribution, and with it
    campaign, flow and analytics figures, credits the same orders after pruning as before."""

    __tablename__ = "retained_conversions"
    __table_args__ = (
        sa.Index("ix_retained_conversions_org_id_name_time", "org_id", "name", "time"),
    )

    # The pruned event's id.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    profile_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("profiles.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(255))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    value: Mapped[float | None] = mapped_column(sa.Numeric(18, 6, asdecimal=False))
