"""Applying provider feedback: one rule for every provider.

- Each event is recorded once: by the provider's own event id (SendGrid resends events; SNS
  may deliver a notification twice).
- Statuses only move forward: delivered after sent; bounced or complained after either, and
  nothing after those (a late "delivered" for a bounced message is recorded, not applied).
- A hard bounce or a complaint suppresses the address at once; soft bounces after
  `soft_bounce_limit` of them for the address; a provider-reported unsubscribe as an unsubscribe.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.email import guard
from herald.messaging import ledger, suppression
from herald.models import Message, MessageEvent
from herald.settings import get_settings

Kind = Literal[
    "delivered", "hard_bounce", "soft_bounce", "complaint", "unsubscribe", "opened", "clicked"
]
SOFT_BOUNCE = "soft_bounce"
# How far along a status is; a status is never replaced by one that is not further.
RANK = {
    ledger.QUEUED: 0,
    ledger.SENDING: 1,
    ledger.SENT: 2,
    ledger.DELIVERED: 3,
    ledger.BOUNCED: 4,
    ledger.COMPLAINED: 5,
}


@dataclass(frozen=True)
class Feedback:
    """One event a provider reported, as every provider's parser gives it."""

    event_id: str
    kind: Kind
    provider: str
    # Herald's id when the provider echoed it back (tags, custom args, metadata), else the
    # provider's own message id.
    herald_message_id: uuid.UUID | None
    provider_message_id: str | None
    at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)


def herald_id(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def find_message(session: Session, org_id: uuid.UUID, item: Feedback) -> Message | None:
    if item.herald_message_id is not None:
        message = session.scalar(
            sa.select(Message).where(Message.org_id == org_id, Message.id == item.herald_message_id)
        )
        if message is not None:
            return message
    if item.provider_message_id:
        return session.scalar(
            sa.select(Message)
            .where(
                Message.org_id == org_id,
                Message.provider_message_id == item.provider_message_id,
            )
            .limit(1)
        )
    return None


def apply(session: Session, org_id: uuid.UUID, items: list[Feedback]) -> int:
    """Apply what is new among these events; returns how many were."""
    applied = 0
    alarming = False
    for item in items:
        message = find_message(session, org_id, item)
        if message is None:
            continue  # not Herald's, or another organization's: nothing to say to the sender
        if _apply_one(session, message, item):
            applied += 1
            alarming = alarming or item.kind in ("hard_bounce", "complaint")
    if alarming:
        guard.check(session, org_id)
    return applied


def _apply_one(session: Session, message: Message, item: Feedback) -> bool:
    data = {"provider": item.provider, **item.data}
    event_id = f"{item.provider}:{item.event_id}"[:255]
    target = {
        "delivered": ledger.DELIVERED,
        "hard_bounce": ledger.BOUNCED,
        "complaint": ledger.COMPLAINED,
    }.get(item.kind)
    if target is not None and RANK[target] > RANK.get(message.status, 99):
        return ledger.set_status(
            session, message, target, data=data, at=item.at, provider_event_id=event_id
        ) is not None and _after(session, message, item)
    kind = {"hard_bounce": ledger.BOUNCED, "complaint": ledger.COMPLAINED}.get(item.kind, item.kind)
    if item.kind == "unsubscribe":
        kind = "unsubscribed"
    recorded = ledger.record_event(
        session, message, kind, data=data, at=item.at, provider_event_id=event_id
    )
    return recorded is not None and _after(session, message, item)


def _after(session: Session, message: Message, item: Feedback) -> bool:
    """What a new event means for the address."""
    address = message.to_address
    if not address:
        return True
    source = f"provider:{item.provider}"
    if item.kind == "hard_bounce":
        suppression.suppress(
            session, message.org_id, "email", address, reason="hard_bounce", source=source
        )
    elif item.kind == "complaint":
        suppression.suppress(
            session, message.org_id, "email", address, reason="complaint", source=source
        )
    elif item.kind == "unsubscribe":
        suppression.suppress(
            session, message.org_id, "email", address, reason="unsubscribe", source=source
        )
    elif item.kind == SOFT_BOUNCE and _soft_bounces(session, message) >= (
        get_settings().soft_bounce_limit
    ):
        suppression.suppress(
            session, message.org_id, "email", address, reason="hard_bounce", source=source
        )
    return True


def _soft_bounces(session: Session, message: Message) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(MessageEvent)
            .join(Message, Message.id == MessageEvent.message_id)
            .where(
                MessageEvent.org_id == message.org_id,
                MessageEvent.kind == SOFT_BOUNCE,
                Message.org_id == message.org_id,
                Message.to_address == message.to_address,
            )
        )
        or 0
    )
