"""The message ledger's logic: queueing a message, reading messages, keeping them with their
person when profiles merge or are erased.

Every outgoing message is a `Message` row (status `queued`) before any provider sees it (DESIGN
invariant 3), under an idempotency key that is unique in the organization (invariant 4): queueing
twice under one key returns the first message and adds nothing, even when both calls race.

Recipients: a profile (by id; it must belong to the organization and have an email address), or an
address. An address is sent to as given and no profile is created for it; when a profile with that
address exists, the message is linked to it (for its timeline, consent and merges).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from herald.db import utcnow
from herald.errors import FieldError, InvalidInput, NotFound
from herald.messaging import ledger
from herald.models import EmailTemplate, Message, MessageEvent, Profile
from herald.pagination import newest_first_page
from herald.profiles.identity import live_profile, on_erase, on_merge
from herald.tenancy.scope import get_scoped, scoped
from herald.validation import normalize_email

SOURCES = ("transactional", "campaign", "flow")
# A message that can still be changed before it is sent, and a message that is on its way.
QUEUED, SENDING = ledger.QUEUED, ledger.SENDING


@dataclass(frozen=True)
class RawContent:
    """A message written by the caller rather than taken from a template. Personalization
    (`{{ profile.first_name }}`) works in all three parts."""

    subject: str
    html: str
    text: str | None = None


def _recipient(
    session: Session, org_id: uuid.UUID, to_profile_id: uuid.UUID | None, to_address: str | None
) -> tuple[Profile | None, str]:
    if (to_profile_id is None) == (to_address is None):
        raise InvalidInput(
            "name the recipient by profile id or by email address, not both",
            [FieldError("to", "give exactly one of profile_id and email")],
        )
    if to_profile_id is not None:
        profile = live_profile(session, org_id, to_profile_id)
        if not profile.email:
            raise InvalidInput.for_field("to.profile_id", "this profile has no email address")
        return profile, profile.email
    assert to_address is not None
    try:
        address = normalize_email(to_address)
    except ValueError as exc:
        raise InvalidInput.for_field("to.email", str(exc)) from exc
    linked = session.scalar(
        scoped(Profile, org_id).where(Profile.email == address, Profile.merged_into_id.is_(None))
    )
    return linked, address


def find_by_key(session: Session, org_id: uuid.UUID, idempotency_key: str) -> Message | None:
    return session.scalar(scoped(Message, org_id).where(Message.idempotency_key == idempotency_key))


def queue_email(
    session: Session,
    org_id: uuid.UUID,
    *,
    source: str,
    idempotency_key: str,
    to_profile_id: uuid.UUID | None = None,
    to_address: str | None = None,
    template_id: uuid.UUID | None = None,
    raw: RawContent | None = None,
    data: dict[str, Any] | None = None,
    source_id: uuid.UUID | None = None,
    marketing: bool = False,
    send_after: datetime | None = None,
    kick: bool = True,
) -> Message:
    """Record one email to send, and kick a worker once the caller commits.

    A message under the same `idempotency_key` already recorded is returned as it is; nothing is
    added or kicked. With `send_after` in the future the message waits until then. `kick=False`
    leaves the kick to the caller (a campaign kicking in bulk) or to the sweep.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown message source {source!r}")
    if not 1 <= len(idempotency_key) <= 255:
        raise InvalidInput.for_field("idempotency_key", "must be 1 to 255 characters")
    if send_after is not None and send_after.tzinfo is None:
        raise InvalidInput.for_field("send_at", "needs a time zone (or Z for UTC)")
    existing = find_by_key(session, org_id, idempotency_key)
    if existing is not None:
        return existing
    if (template_id is None) == (raw is None):
        raise InvalidInput(
            "give a template or a subject and HTML body, not both",
            [FieldError("template_id", "give exactly one of template_id and subject + html")],
        )
    if template_id is not None:
        try:
            get_scoped(session, EmailTemplate, org_id, template_id)
        except NotFound as exc:  # another organization's template is as unknown as none
            raise InvalidInput.for_field("template_id", "no such template") from exc
    profile, address = _recipient(session, org_id, to_profile_id, to_address)
    content: dict[str, Any] = {"data": data or {}}
    if raw is not None:
        content.update(subject=raw.subject, html=raw.html, text=raw.text)
    message = Message(
        org_id=org_id,
        profile_id=profile.id if profile is not None else None,
        channel="email",
        source=source,
        source_id=source_id,
        marketing=marketing,
        idempotency_key=idempotency_key,
        template_id=template_id,
        to_address=address,
        content=content,
        status=QUEUED,
        attempts=0,
        send_after=send_after,
    )
    try:
        with session.begin_nested():
            session.add(message)
            session.flush()
            ledger.record_event(session, message, QUEUED, data={"source": source})
    except IntegrityError:
        # The same key was recorded a moment ago by a concurrent call: that one is the message.
        winner = find_by_key(session, org_id, idempotency_key)
        if winner is None:
            raise
        return winner
    if kick:
        kick_send(session, message)
    return message


def kick_send(session: Session, message: Message) -> None:
    """Have a worker send the message after the commit (at `send_after`, when it is later)."""
    from herald.email.tasks import send_email
    from herald.worker import enqueue_after_commit

    if message.send_after is not None and message.send_after > utcnow():
        enqueue_after_commit(
            session, send_email.schedule, args=(str(message.id),), eta=message.send_after
        )
    else:
        enqueue_after_commit(session, send_email, str(message.id))


# --- Reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageFilter:
    status: str | None = None
    profile_id: uuid.UUID | None = None
    source: str | None = None
    source_id: uuid.UUID | None = None
    provider: str | None = None
    to_address: str | None = None


def list_messages(
    session: Session,
    org_id: uuid.UUID,
    where: MessageFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Message], str | None]:
    """Newest first, by keyset cursor."""
    query = scoped(Message, org_id)
    if where.status is not None:
        query = query.where(Message.status == where.status)
    if where.profile_id is not None:
        query = query.where(Message.profile_id == where.profile_id)
    if where.source is not None:
        query = query.where(Message.source == where.source)
    if where.source_id is not None:
        query = query.where(Message.source_id == where.source_id)
    if where.provider is not None:
        query = query.where(Message.provider == where.provider)
    if where.to_address is not None:
        query = query.where(Message.to_address == where.to_address.strip().lower())
    return newest_first_page(
        session, query, Message.created_at, Message.id, limit=limit, cursor=cursor
    )


def message_events(session: Session, message: Message) -> list[MessageEvent]:
    return list(
        session.scalars(
            sa.select(MessageEvent)
            .where(MessageEvent.org_id == message.org_id, MessageEvent.message_id == message.id)
            .order_by(MessageEvent.at, MessageEvent.id)
        )
    )


# --- Profiles merging and being erased ----------------------------------------------------------


@on_merge
def _follow_merge(
    session: Session, org_id: uuid.UUID, loser_id: uuid.UUID, survivor_id: uuid.UUID
) -> None:
    session.execute(
        sa.update(Message)
        .where(Message.org_id == org_id, Message.profile_id == loser_id)
        .values(profile_id=survivor_id)
        .execution_options(synchronize_session=False)
    )


@on_erase
def _forget_erased(session: Session, org_id: uuid.UUID, profile_ids: list[uuid.UUID]) -> None:
    """An erased person's messages keep their status history but lose what identified them: the
    address, the subject and the personalization data. One still waiting is not sent."""
    now = utcnow()
    waiting = list(
        session.scalars(
            sa.select(Message).where(
                Message.org_id == org_id,
                Message.profile_id.in_(profile_ids),
                Message.status == QUEUED,
            )
        )
    )
    for message in waiting:
        ledger.set_status(session, message, ledger.SKIPPED, data={"reason": "profile erased"})
    session.flush()
    session.execute(
        sa.update(Message)
        .where(Message.org_id == org_id, Message.profile_id.in_(profile_ids))
        .values(to_address="", subject=None, content={}, updated_at=now)
        .execution_options(synchronize_session=False)
    )
