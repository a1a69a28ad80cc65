"""Analytics: each organization's attribution settings, and the hourly rollups reports read.

The rollups are derived data. Each row holds one hour's figures for one key (an hour of the
organization's local time, starting at its UTC start: see herald.analytics.rollups); an hour is
recomputed whole from the ledger and the events table whenever something in it changes (see
herald.analytics.rollups), so replaying, retrying or reordering the input never changes a total.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, UTCDateTime, utcnow

# The key of rollup rows that name no source (a transactional message without one) or no
# channel (unattributed revenue): primary keys cannot hold NULL.
NO_SOURCE_ID = uuid.UUID(int=0)


class AnalyticsSettings(Base):
    """What counts as a conversion for the organization, how long after a touch it is credited,
    and the currency money is shown in. No row means the defaults."""

    __tablename__ = "analytics_settings"

    org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    conversion_metric: Mapped[str] = mapped_column(sa.String(255), default="Placed Order")
    attribution_window_hours: Mapped[int] = mapped_column(default=120)
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AnalyticsDirtyHour(Base):
    """An hour of an organization whose rollups must be recomputed. Writers add one in the
    transaction that changes the hour's raw rows, with a random shard: concurrent writers of one
    hour insert different rows, so none waits on another's uncommitted mark."""

    __tablename__ = "analytics_dirty_hours"

    org_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    shard: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, default=0)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessageHour(Base):
    """One hour's message figures for one channel and source (campaign, flow, SMS campaign,
    transactional). Counts are of events in the hour; a unique count (opens_unique, ...) counts
    the messages whose first such event fell in the hour, so the hours of a period add up to the
    period's unique count. Conversions and revenue are credited by the one attribution rule, in
    the hour of the conversion; source "unattributed" holds the conversion metric's revenue that
    no message earned."""

    __tablename__ = "analytics_message_hours"
    __table_args__ = (
        sa.Index("ix_analytics_message_hours_org_id_source_id", "org_id", "source_id"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    source_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    recipients: Mapped[int] = mapped_column(default=0)
    sent: Mapped[int] = mapped_column(default=0)
    delivered: Mapped[int] = mapped_column(default=0)
    bounced: Mapped[int] = mapped_column(default=0)
    soft_bounced: Mapped[int] = mapped_column(default=0)
    opens_unique: Mapped[int] = mapped_column(default=0)
    opens_total: Mapped[int] = mapped_column(default=0)
    opens_machine: Mapped[int] = mapped_column(default=0)
    clicks_unique: Mapped[int] = mapped_column(default=0)
    clicks_total: Mapped[int] = mapped_column(default=0)
    unsubscribes: Mapped[int] = mapped_column(default=0)
    complaints: Mapped[int] = mapped_column(default=0)
    conversions: Mapped[int] = mapped_column(default=0)
    revenue: Mapped[float] = mapped_column(sa.Numeric(18, 6, asdecimal=False), default=0)


class DeliveryHour(Base):
    """One hour's deliverability figures for one channel, provider and recipient domain."""

    __tablename__ = "analytics_delivery_hours"

    org_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    domain: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    sent: Mapped[int] = mapped_column(default=0)
    delivered: Mapped[int] = mapped_column(default=0)
    bounced: Mapped[int] = mapped_column(default=0)
    soft_bounced: Mapped[int] = mapped_column(default=0)
    complaints: Mapped[int] = mapped_column(default=0)
    unsubscribes: Mapped[int] = mapped_column(default=0)


class EventHour(Base):
    """One hour's count and summed value of one event name (metric)."""

    __tablename__ = "analytics_event_hours"

    org_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    events: Mapped[int] = mapped_column(default=0)
    value: Mapped[float] = mapped_column(sa.Numeric(18, 6, asdecimal=False), default=0)
