"""Who may be sent marketing: the suppression list and per-channel consent."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, UTCDateTime, new_id, utcnow


class Suppression(Base):
    """An address or number Herald must not send marketing to on a channel: keyed by the
    address rather than the profile, so it survives the profile being erased and recreated."""

    __tablename__ = "suppressions"
    __table_args__ = (sa.UniqueConstraint("org_id", "channel", "address"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    # "email" or "sms"; the address is a normalized email address or an E.164 number.
    channel: Mapped[str] = mapped_column(sa.String(8))
    address: Mapped[str] = mapped_column(sa.String(320))
    # "unsubscribe", "hard_bounce", "complaint", "manual", "import", "stop"
    reason: Mapped[str] = mapped_column(sa.String(32))
    # Who or what added it: "api", "dashboard", "one-click", "webhook:ses", an import's job id...
    source: Mapped[str] = mapped_column(sa.String(64), default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Consent(Base):
    """A profile's current consent to marketing on a channel (SMS needs it given expressly)."""

    __tablename__ = "consents"

    profile_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("profiles.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    granted: Mapped[bool]
    # Where it was given or withdrawn: "api", "import", "keyword", "form", ...
    source: Mapped[str] = mapped_column(sa.String(32))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentRecord(Base):
    """One change of a profile's consent on a channel, with its evidence. The history is never
    rewritten; `Consent` holds the status of the latest record (by `recorded_at`)."""

    __tablename__ = "consent_records"
    __table_args__ = (
        sa.Index(
            "ix_consent_records_profile_id_channel_recorded_at",
            "profile_id",
            "channel",
            "recorded_at",
        ),
        sa.Index("ix_consent_records_org_id_recorded_at", "org_id", "recorded_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    profile_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("profiles.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(8))
    # "subscribed" or "unsubscribed"
    status: Mapped[str] = mapped_column(sa.String(16))
    # How: "form", "api", "import", "keyword", "dashboard", "preference_page", "carrier"
    method: Mapped[str] = mapped_column(sa.String(32))
    # The email address or phone number the consent was about, as it was then.
    address: Mapped[str | None] = mapped_column(sa.String(320))
    # The words the person agreed to (or the keyword they sent).
    consent_text: Mapped[str | None] = mapped_column(sa.Text)
    ip_address: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))
    page_url: Mapped[str | None] = mapped_column(sa.Text)
    # Who recorded it: "api", "dashboard:<user id>", an import's job id, "twilio"...
    source: Mapped[str] = mapped_column(sa.String(64), default="api")
    # When the person gave or withdrew it (given by the caller, e.g. for an import).
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
