"""An organization's email providers in failover order, each with its circuit breaker's state,
and the deliverability guard's pause. The state lives here, not in a process, so that every
worker routes the same way (DESIGN: shared provider state)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, UTCDateTime, new_id, utcnow


class EmailProviderEntry(Base):
    """One provider account in the organization's ordered list."""

    __tablename__ = "email_providers"
    __table_args__ = (sa.Index("ix_email_providers_org_id_position", "org_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    # Lower goes first.
    position: Mapped[int] = mapped_column(default=0)
    # outbox, smtp, ses, sendgrid or postmark.
    kind: Mapped[str] = mapped_column(sa.String(16))
    label: Mapped[str] = mapped_column(sa.String(100))
    # The provider's settings as JSON, Fernet-encrypted (herald.security.encrypt).
    config: Mapped[str] = mapped_column(sa.Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    per_second: Mapped[int | None] = mapped_column(sa.Integer)
    per_day: Mapped[int | None] = mapped_column(sa.Integer)
    # The circuit breaker: closed (in use), open (skipped until `opened_at` + cool-down), or
    # half_open (one worker is probing it since `probe_at`).
    state: Mapped[str] = mapped_column(sa.String(16), default="closed")
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    probe_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The current error-rate window: messages tried and failed since it started.
    window_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_attempts: Mapped[int] = mapped_column(default=0)
    window_errors: Mapped[int] = mapped_column(default=0)
    sent_total: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    failed_total: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # A moving average of one call's duration.
    latency_ms: Mapped[float | None] = mapped_column(sa.Float)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SendingPause(Base):
    """Marketing email paused by the deliverability guard until an admin resumes it."""

    __tablename__ = "email_sending_pauses"

    org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    paused: Mapped[bool] = mapped_column(default=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
