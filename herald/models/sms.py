"""SMS: each organization's Twilio settings and the messages people send to its numbers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, JSONType, UTCDateTime, new_id, utcnow


class SmsSettings(Base):
    """An organization's SMS setup. The Twilio credentials are Fernet-encrypted at rest."""

    __tablename__ = "sms_settings"

    org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(sa.String(16), default="twilio")
    account_sid: Mapped[str | None] = mapped_column(sa.String(64))
    # {"auth_token": ...} as JSON, encrypted (herald.security.encrypt).
    credentials: Mapped[str | None] = mapped_column(sa.Text)
    # E.164 numbers to send from (the first is the default), or a Messaging Service.
    sender_numbers: Mapped[list[str]] = mapped_column(JSONType, default=list)
    messaging_service_sid: Mapped[str | None] = mapped_column(sa.String(64))
    # The brand named in keyword replies and the opt-out sentence.
    brand_name: Mapped[str | None] = mapped_column(sa.String(100))
    # Replies to STOP, START and HELP; NULL means the CTIA-style default.
    stop_reply: Mapped[str | None] = mapped_column(sa.Text)
    start_reply: Mapped[str | None] = mapped_column(sa.Text)
    help_reply: Mapped[str | None] = mapped_column(sa.Text)
    # Marketing SMS waits outside these local hours (recipient's time); `quiet_hours` off sends
    # at any hour.
    quiet_hours: Mapped[bool] = mapped_column(default=True)
    quiet_start: Mapped[int] = mapped_column(default=21)  # hour, 0-23
    quiet_end: Mapped[int] = mapped_column(default=8)
    # Messages per second and per day for the organization, per second for each sender number.
    per_second: Mapped[int | None] = mapped_column()
    per_day: Mapped[int | None] = mapped_column()
    per_number_per_second: Mapped[int | None] = mapped_column()
    # Append "Reply STOP to opt out" to marketing SMS that do not already say so.
    require_opt_out: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InboundSms(Base):
    """A message someone sent to one of the organization's numbers (keywords included)."""

    __tablename__ = "inbound_sms"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "provider_message_id"),
        sa.Index(
            "ix_inbound_sms_org_id_profile_id_received_at", "org_id", "profile_id", "received_at"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    profile_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("profiles.id", ondelete="SET NULL")
    )
    from_number: Mapped[str] = mapped_column(sa.String(32))
    to_number: Mapped[str] = mapped_column(sa.String(32))
    body: Mapped[str] = mapped_column(sa.Text)
    # "stop", "start", "help" or NULL for anything else.
    keyword: Mapped[str | None] = mapped_column(sa.String(16))
    media_urls: Mapped[list[str]] = mapped_column(JSONType, default=list)
    provider_message_id: Mapped[str] = mapped_column(sa.String(64))
    # The reply Herald sent, if any.
    reply: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SmsTemplate(Base):
    """A saved SMS text (personalization in the template sandbox), for SMS campaigns and the
    flow SMS step."""

    __tablename__ = "sms_templates"
    __table_args__ = (sa.UniqueConstraint("org_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(255))
    body: Mapped[str] = mapped_column(sa.Text)
    media_urls: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
