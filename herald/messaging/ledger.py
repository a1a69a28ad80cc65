"""The message ledger's shared writes: what happened to a message is one MessageEvent row."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from herald.db import utcnow
from herald.models import Message, MessageEvent
from herald.tenancy.scope import get_scoped


def get_message(session: Session, org_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    return get_scoped(session, Message, org_id, message_id)


def record_event(
    session: Session,
    message: Message,
    kind: str,
    *,
    data: dict[str, Any] | None = None,
    machine: bool = False,
    provider_event_id: str | None = None,
    at: datetime | None = None,
) -> MessageEvent | None:
    """Add an event to the message's history. With a provider's event id, a second delivery of
    the same webhook event adds nothing and returns None."""
    event = MessageEvent(
        org_id=message.org_id,
        message_id=message.id,
        kind=kind,
        at=at or utcnow(),
        machine=machine,
        data=data or {},
        provider_event_id=provider_event_id,
    )
    if provider_event_id is None:
        session.add(event)
        session.flush()
        return event
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        return None
    return event


# --- Statuses -----------------------------------------------------------------------------------

# queued -> sending -> sent -> delivered; or a final failure. A retried send goes back to queued.
QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
BOUNCED = "bounced"
COMPLAINED = "complained"
FAILED = "failed"
SUPPRESSED = "suppressed"
SKIPPED = "skipped"
STATUSES = (QUEUED, SENDING, SENT, DELIVERED, BOUNCED, COMPLAINED, FAILED, SUPPRESSED, SKIPPED)
# Nothing more will be sent for a message in one of these (delivery reports may still arrive).
FINAL_STATUSES = frozenset(STATUSES) - {QUEUED, SENDING}


def set_status(
    session: Session,
    message: Message,
    status: str,
    *,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    provider_event_id: str | None = None,
) -> MessageEvent | None:
    """Move the message to `status` and record the change as an event of the same kind, in the
    caller's transaction: a status never changes without its event. Sets `sent_at` or
    `delivered_at` when the status is sent or delivered."""
    if status not in STATUSES:
        raise ValueError(f"unknown message status {status!r}")
    when = at or utcnow()
    message.status = status
    if status == SENT:
        message.sent_at = when
    elif status == DELIVERED:
        message.delivered_at = when
    return record_event(
        session, message, status, data=data, at=when, provider_event_id=provider_event_id
    )
