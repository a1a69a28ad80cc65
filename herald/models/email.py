"""Email: templates, the message ledger and what happened to each message, and each
organization's sending settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from herald.db import Base, JSONType, UTCDateTime, new_id, utcnow


class EmailTemplate(Base):
    __tablename__ = "email_templates"
    __table_args__ = (sa.UniqueConstraint("org_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(255))
    # "marketing" (needs an unsubscribe link and the postal address) or "transactional".
    kind: Mapped[str] = mapped_column(sa.String(16), default="marketing")
    subject: Mapped[str] = mapped_column(sa.Text)
    preheader: Mapped[str | None] = mapped_column(sa.Text)
    from_name: Mapped[str | None] = mapped_column(sa.String(255))
    from_email: Mapped[str | None] = mapped_column(sa.String(320))
    reply_to: Mapped[str | None] = mapped_column(sa.String(320))
    # "mjml" or "html": what the author wrote, kept for editing.
    body_format: Mapped[str] = mapped_column(sa.String(8), default="mjml")
    body: Mapped[str] = mapped_column(sa.Text)
    # The body as HTML with its personalization still in it: MJML is compiled once, at save.
    compiled_html: Mapped[str] = mapped_column(sa.Text)
    # The plain-text part as written; NULL means "generate it from the HTML".
    text_body: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Message(Base):
    """One outgoing message, recorded before any provider sees it (DESIGN invariants 3 and 4).

    status: queued -> sending -> sent -> delivered, or bounced / complained / failed /
    suppressed / skipped. `attempts` and `heartbeat_at` let a worker claim it and the sweep
    find it again if that worker dies.
    """

    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "idempotency_key"),
        sa.Index("ix_messages_org_id_created_at", "org_id", "created_at"),
        sa.Index("ix_messages_org_id_profile_id_created_at", "org_id", "profile_id", "created_at"),
        sa.Index("ix_messages_provider_message_id", "provider_message_id"),
        sa.Index("ix_messages_status_heartbeat_at", "status", "heartbeat_at"),
        sa.Index("ix_messages_source_id", "source_id"),
        # Analytics counts an hour's sends and deliveries (herald/analytics/rollups.py).
        sa.Index("ix_messages_org_id_sent_at", "org_id", "sent_at"),
        sa.Index("ix_messages_org_id_delivered_at", "org_id", "delivered_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    profile_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("profiles.id", ondelete="SET NULL")
    )
    channel: Mapped[str] = mapped_column(sa.String(8), default="email")
    # "transactional", "campaign" or "flow"; source_id names the campaign or flow step.
    source: Mapped[str] = mapped_column(sa.String(16))
    source_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    # Marketing messages carry unsubscribe headers and respect marketing consent.
    marketing: Mapped[bool] = mapped_column(default=False)
    idempotency_key: Mapped[str] = mapped_column(sa.String(255))
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("email_templates.id", ondelete="SET NULL")
    )
    to_address: Mapped[str] = mapped_column(sa.String(320))
    # Raw subject/html/text when sent without a template, and `data` for personalization.
    content: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Filled in when rendered, at send time.
    subject: Mapped[str | None] = mapped_column(sa.Text)
    from_address: Mapped[str | None] = mapped_column(sa.String(640))
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The process (herald.models.Process) holding the claim: when it is gone, so is the claim.
    claimed_by: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    # Not before this time (scheduled sends); NULL means at once.
    send_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider: Mapped[str | None] = mapped_column(sa.String(32))
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(255))
    # The provider (an email_providers id) whose call ended without a clear answer: it may have
    # taken the message, so the message is retried through it only, never handed to another.
    unsure_provider_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MessageHandoff(Base):
    """A message a provider accepted, written the moment it did, before the sender hands the next
    message over on the same connection: one small INSERT, where recording the outcome (status,
    the sent event, analytics and campaign bookkeeping) waits for the batch's record. The batch's
    record deletes these rows; a sender that died before it leaves them, and whoever takes its
    messages over records them as sent from here instead of sending them again. So a killed
    sender re-sends at most the message in flight on each connection (herald.email.service)."""

    __tablename__ = "message_handoffs"

    message_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    # The claim (Message.attempts) that handed it over.
    attempt: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str | None] = mapped_column(sa.String(32))
    provider_message_id: Mapped[str] = mapped_column(sa.String(255))
    # The email_providers row (failover lists), when one took it.
    provider_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessageEvent(Base):
    """Something that happened to a message: a status change, an open, a click, a bounce, an
    unsubscribe. Provider webhooks are deduplicated by their own event id."""

    __tablename__ = "message_events"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "provider_event_id"),
        sa.Index("ix_message_events_message_id_at", "message_id", "at"),
        sa.Index("ix_message_events_org_id_kind_at", "org_id", "kind", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organizations.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"))
    # queued, sending, sent, delivered, bounced, complained, failed, suppressed, skipped,
    # opened, clicked, unsubscribed
    kind: Mapped[str] = mapped_column(sa.String(24))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # An open from a mail privacy proxy or a prefetcher rather than a person.
    machine: Mapped[bool] = mapped_column(default=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    provider_event_id: Mapped[str | None] = mapped_column(sa.String(255))


class EmailSettings(Base):
    """An organization's sending setup. Credentials and the DKIM key are encrypted at rest."""

    __tablename__ = "email_settings"

    org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    # "outbox" (the default: nothing leaves the machine) or "smtp"; more providers later.
    provider: Mapped[str] = mapped_column(sa.String(16), default="outbox")
    # The provider's settings as JSON, Fernet-encrypted (herald.security.encrypt).
    provider_config: Mapped[str | None] = mapped_column(sa.Text)
    default_from_name: Mapped[str | None] = mapped_column(sa.String(255))
    default_from_email: Mapped[str | None] = mapped_column(sa.String(320))
    default_reply_to: Mapped[str | None] = mapped_column(sa.String(320))
    # Required in marketing email by CAN-SPAM.
    postal_address: Mapped[str | None] = mapped_column(sa.Text)
    dkim_domain: Mapped[str | None] = mapped_column(sa.String(253))
    dkim_selector: Mapped[str | None] = mapped_column(sa.String(63))
    dkim_private_key: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
