"""Campaigns: one message to an audience, and the audience snapshotted into recipient rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, JSONType, UTCDateTime, new_id, utcnow


class Campaign(Base):
    """status: draft -> scheduled -> sending -> sent, or paused (from sending) / cancelled.

    `audience_at` is set once the audience snapshot has finished: a campaign is sent only after
    that, and only when every recipient row is final (DESIGN invariant 3)."""

    __tablename__ = "campaigns"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "name"),
        sa.Index("ix_campaigns_status_scheduled_at", "status", "scheduled_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(255))
    # "email" (a template) or "sms" (`sms_body`, personalized like a template, and media).
    channel: Mapped[str] = mapped_column(sa.String(8), default="email")
    sms_body: Mapped[str | None] = mapped_column(sa.Text)
    media_urls: Mapped[list[str] | None] = mapped_column(JSONType)
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("email_templates.id", ondelete="SET NULL")
    )
    # Overrides of the template's subject and sender; NULL means the template's.
    subject: Mapped[str | None] = mapped_column(sa.Text)
    from_name: Mapped[str | None] = mapped_column(sa.String(255))
    from_email: Mapped[str | None] = mapped_column(sa.String(320))
    # Segment ids (as strings): members of any included segment, minus members of any excluded.
    include_segment_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    exclude_segment_ids: Mapped[list[str]] = mapped_column(JSONType, default=list)
    smart_sending: Mapped[bool] = mapped_column(default=True)
    smart_sending_hours: Mapped[int] = mapped_column(sa.Integer, default=16)
    status: Mapped[str] = mapped_column(sa.String(16), default="draft")
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    audience_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A/B test settings (schemas.ABTest) and, once decided, the outcome (schemas.ABResult).
    ab_test: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    ab_result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # When the test pool has had its `duration_hours`: set when the snapshot finishes.
    ab_decide_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_time_optimization: Mapped[bool] = mapped_column(default=False)
    # Local-time sending: a wall-clock time (no zone) applied in each recipient's time zone.
    local_send_at: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=False))
    local_grace_minutes: Mapped[int | None] = mapped_column(sa.Integer)
    conversion_metric: Mapped[str] = mapped_column(sa.String(255), default="Placed Order")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CampaignRecipient(Base):
    """One profile of a campaign's audience, as snapshotted when sending started.

    status: pending -> queued (its message exists) -> the message's outcome (sent, failed,
    suppressed, skipped); skipped at the snapshot (with `skip_reason`); cancelled. Outside an
    A/B test's pool a recipient is `waiting` until the winner is decided, then pending."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "profile_id"),
        sa.Index("ix_campaign_recipients_campaign_id_status", "campaign_id", "status"),
        sa.Index("ix_campaign_recipients_message_id", "message_id"),
    )

    # An integer key: the snapshot inserts rows with INSERT ... SELECT, and pages follow it.
    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE")
    )
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    # Ids only, no foreign keys: the rows outlive merged and erased profiles as history.
    profile_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    # The address at the snapshot: the email address, or the phone number of an SMS campaign.
    email: Mapped[str | None] = mapped_column(sa.String(320))
    variant: Mapped[str | None] = mapped_column(sa.String(16))
    # Not before this time (send-time features); NULL means with the campaign.
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    skip_reason: Mapped[str | None] = mapped_column(sa.String(64))
    message_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
