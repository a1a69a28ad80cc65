"""The message ledger's logic: queueing a message, reading messages, keeping them with their
person when profiles merge or are erased.

Every outgoing message is a `Message` row (status `queued`) before any provider sees it (DESIGN
invariant 3), under an idempotency key that is unique in the organization (invariant 4): queueing
twice under one key returns the first message and adds nothing, even when both calls race.
`queue_email` records one message; `queue_emails` records a batch in a few statements (a
campaign's fan-out), and is what `queue_email` runs with a batch of one.

Recipients: a profile (by id; it must belong to the organization and have an email address), or an
address. An address is sent to as given and no profile is created for it; when a profile with that
address exists, the message is linked to it (for its timeline, consent and merges).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import new_ids, utcnow
from herald.errors import FieldError, HeraldError, InvalidInput, NotFound
from herald.messaging import ledger
from herald.models import Campaign, EmailTemplate, Flow, Message, MessageEvent, Profile
from herald.pagination import newest_first_page
from herald.profiles.identity import on_erase, on_merge
from herald.tenancy.scope import scoped
from herald.validation import normalize_email

# What sent a message: the API, a campaign, a flow, or a campaign's test send (to one address,
# not a recipient and not in the campaign's stats). `source_id` names the campaign or flow.
CAMPAIGN_TEST = "campaign_test"
SOURCES = ("transactional", "campaign", "flow", CAMPAIGN_TEST)
CAMPAIGN_SOURCES = ("campaign", CAMPAIGN_TEST)
# A message that can still be changed before it is sent, and a message that is on its way.
QUEUED, SENDING = ledger.QUEUED, ledger.SENDING


@dataclass(frozen=True)
class RawContent:
    """A message written by the caller rather than taken from a template. Personalization
    (`{{ profile.first_name }}`) works in all three parts."""

    subject: str
    html: str
    text: str | None = None


@dataclass(frozen=True)
class EmailRequest:
    """One email to record: to a profile (by id) or to an address, from a template or from raw
    content, under an idempotency key."""

    idempotency_key: str
    to_profile_id: uuid.UUID | None = None
    to_address: str | None = None
    template_id: uuid.UUID | None = None
    raw: RawContent | None = None
    data: dict[str, Any] | None = None
    send_after: datetime | None = None
    # Content the worker uses instead of the template's: a campaign's subject and sender.
    overrides: Mapping[str, str] | None = None
    # What templates see as `event`: the event that triggered a flow.
    event: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class QueuedEmail:
    """A request's message: recorded by this call (`created`), or the one its key already had."""

    message_id: uuid.UUID
    status: str
    send_after: datetime | None
    created: bool


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
    overrides: Mapping[str, str] | None = None,
    kick: bool = True,
) -> Message:
    """Record one email to send, and kick a worker once the caller commits.

    A message under the same `idempotency_key` already recorded is returned as it is; nothing is
    added or kicked. With `send_after` in the future the message waits until then. `kick=False`
    leaves the kick to the caller or to the sweep. A request that cannot be recorded raises
    (InvalidInput, or NotFound for an unknown profile).
    """
    request = EmailRequest(
        idempotency_key=idempotency_key,
        to_profile_id=to_profile_id,
        to_address=to_address,
        template_id=template_id,
        raw=raw,
        data=data,
        send_after=send_after,
        overrides=overrides,
    )
    (outcome,) = queue_emails(
        session, org_id, [request], source=source, source_id=source_id, marketing=marketing
    )
    if isinstance(outcome, HeraldError):
        raise outcome
    message = session.get(Message, outcome.message_id)
    assert message is not None
    if kick and outcome.created:
        kick_send(session, message)
    return message


def queue_emails(
    session: Session,
    org_id: uuid.UUID,
    requests: Sequence[EmailRequest],
    *,
    source: str,
    source_id: uuid.UUID | None = None,
    marketing: bool = False,
) -> list[QueuedEmail | HeraldError]:
    """Record many emails in a few statements (a campaign's batch of recipients): one query for
    templates, one or two for the recipients, one INSERT for the messages (which skips keys
    already used) and one for their `queued` events. Nothing is kicked: see `kick_sends`.

    Returns, for each request in order, its message or why it got none (the error `queue_email`
    would raise). A key used before, or by a concurrent call a moment ago, gives the earlier
    message, even to a request that would be refused now; those keys are looked up after the
    insert, so the common case (all new) costs no lookup.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown message source {source!r}")
    outcomes: list[QueuedEmail | HeraldError | None] = [None] * len(requests)
    todo: list[int] = []
    for index, request in enumerate(requests):
        if not 1 <= len(request.idempotency_key) <= 255:
            outcomes[index] = InvalidInput.for_field(
                "idempotency_key", "must be 1 to 255 characters"
            )
        elif request.send_after is not None and request.send_after.tzinfo is None:
            outcomes[index] = InvalidInput.for_field("send_at", "needs a time zone (or Z for UTC)")
        else:
            todo.append(index)
    known_templates = _known_templates(
        session, org_id, {requests[i].template_id for i in todo} - {None}
    )
    recipients = _recipients(session, org_id, [requests[i] for i in todo])
    now = utcnow()
    ids = iter(new_ids(len(todo)))
    rows: dict[str, dict[str, Any]] = {}
    first: dict[str, int] = {}
    refused: set[int] = set()
    for index, recipient in zip(todo, recipients, strict=True):
        request = requests[index]
        if (request.template_id is None) == (request.raw is None):
            outcomes[index] = InvalidInput(
                "give a template or a subject and HTML body, not both",
                [FieldError("template_id", "give exactly one of template_id and subject + html")],
            )
        elif request.template_id is not None and request.template_id not in known_templates:
            # Another organization's template is as unknown as none.
            outcomes[index] = InvalidInput.for_field("template_id", "no such template")
        elif isinstance(recipient, HeraldError):
            outcomes[index] = recipient
        if outcomes[index] is not None:
            refused.add(index)
            continue
        if request.idempotency_key in rows:
            continue  # the same key twice in one call: the first request's message
        assert not isinstance(recipient, HeraldError)
        first[request.idempotency_key] = index
        profile_id, address = recipient
        content: dict[str, Any] = {"data": request.data or {}}
        if request.raw is not None:
            raw = request.raw
            content.update(subject=raw.subject, html=raw.html, text=raw.text)
        content.update(request.overrides or {})
        if request.event is not None:
            content["event"] = dict(request.event)
        rows[request.idempotency_key] = {
            "id": next(ids),
            "org_id": org_id,
            "profile_id": profile_id,
            "channel": "email",
            "source": source,
            "source_id": source_id,
            "marketing": marketing,
            "idempotency_key": request.idempotency_key,
            "template_id": request.template_id,
            "to_address": address,
            "content": content,
            "status": QUEUED,
            "attempts": 0,
            "send_after": request.send_after,
            "created_at": now,
            "updated_at": now,
        }
    inserted = _insert_new_messages(session, list(rows.values()))
    taken = [key for key, row in rows.items() if row["id"] not in inserted]
    earlier = _known_keys(session, org_id, taken + [requests[i].idempotency_key for i in refused])
    ledger.add_events(
        session,
        QUEUED,
        [(org_id, row["id"], {"source": source}) for row in rows.values() if row["id"] in inserted],
        at=now,
    )
    for index in refused:
        outcomes[index] = earlier.get(requests[index].idempotency_key, outcomes[index])
    for index in todo:
        if index in refused:
            continue
        key = requests[index].idempotency_key
        row = rows[key]
        if row["id"] in inserted:
            created = first[key] == index
            outcomes[index] = QueuedEmail(row["id"], QUEUED, row["send_after"], created=created)
        else:
            outcomes[index] = earlier[key]
    return [outcome for outcome in outcomes if outcome is not None]


def _known_keys(session: Session, org_id: uuid.UUID, keys: list[str]) -> dict[str, QueuedEmail]:
    if not keys:
        return {}
    rows = session.execute(
        sa.select(Message.idempotency_key, Message.id, Message.status, Message.send_after).where(
            Message.org_id == org_id, Message.idempotency_key.in_(keys)
        )
    )
    return {
        key: QueuedEmail(message_id, status, send_after, created=False)
        for key, message_id, status, send_after in rows
    }


def _known_templates(
    session: Session, org_id: uuid.UUID, template_ids: set[uuid.UUID | None]
) -> set[uuid.UUID]:
    if not template_ids:
        return set()
    return set(
        session.scalars(
            sa.select(EmailTemplate.id).where(
                EmailTemplate.org_id == org_id, EmailTemplate.id.in_(template_ids)
            )
        )
    )


def _insert_new_messages(session: Session, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert the rows whose key is not taken; the ids of those inserted."""
    inserted = ledger.bulk_insert(
        session,
        Message,
        rows,
        skip_conflicts=("org_id", "idempotency_key"),
        returning="id",
    )
    return set(inserted)


Recipient = tuple[uuid.UUID | None, str] | HeraldError


def _recipients(
    session: Session, org_id: uuid.UUID, requests: list[EmailRequest]
) -> list[Recipient]:
    """Each request's (profile id, address), or why it has none. A profile is followed to the one
    it was merged into and must have an address; an address is normalized and linked to the
    live profile that has it, when there is one (no profile is created)."""
    profiles = live_profiles(
        session, org_id, [r.to_profile_id for r in requests if r.to_profile_id is not None]
    )
    addresses: dict[int, str] = {}
    found: list[Recipient | None] = [None] * len(requests)
    for index, request in enumerate(requests):
        if (request.to_profile_id is None) == (request.to_address is None):
            found[index] = InvalidInput(
                "name the recipient by profile id or by email address, not both",
                [FieldError("to", "give exactly one of profile_id and email")],
            )
        elif request.to_profile_id is not None:
            live = profiles.get(request.to_profile_id)
            if live is None:
                found[index] = NotFound("profile not found")
            elif not live[1]:
                found[index] = InvalidInput.for_field(
                    "to.profile_id", "this profile has no email address"
                )
            else:
                found[index] = (live[0], live[1])
        else:
            assert request.to_address is not None
            try:
                addresses[index] = normalize_email(request.to_address)
            except ValueError as exc:
                found[index] = InvalidInput.for_field("to.email", str(exc))
    if addresses:
        linked = dict(
            session.execute(
                sa.select(Profile.email, Profile.id).where(
                    Profile.org_id == org_id,
                    Profile.email.in_(set(addresses.values())),
                    Profile.merged_into_id.is_(None),
                )
            ).all()
        )
        for index, address in addresses.items():
            found[index] = (linked.get(address), address)
    return [recipient for recipient in found if recipient is not None]


# Merges keep chains one hop long; the bound only guards against a cycle.
MAX_MERGE_HOPS = 8


def live_profiles(
    session: Session, org_id: uuid.UUID, profile_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, str | None]]:
    """For each id of this organization's profiles, the live profile (the one it was merged
    into, if it was) as (id, email). Unknown ids, and other organizations', are left out."""
    rows: dict[uuid.UUID, tuple[uuid.UUID | None, str | None]] = {}
    wanted = set(profile_ids)
    for _ in range(MAX_MERGE_HOPS + 1):
        wanted -= rows.keys()
        if not wanted:
            break
        for profile_id, merged_into, email in session.execute(
            sa.select(Profile.id, Profile.merged_into_id, Profile.email).where(
                Profile.org_id == org_id, Profile.id.in_(wanted)
            )
        ):
            rows[profile_id] = (merged_into, email)
        wanted = {merged for merged, _email in rows.values() if merged is not None}
    live: dict[uuid.UUID, tuple[uuid.UUID, str | None]] = {}
    for profile_id in profile_ids:
        current = profile_id
        for _ in range(MAX_MERGE_HOPS + 1):
            if current not in rows:
                break
            merged_into, email = rows[current]
            if merged_into is None:
                live[profile_id] = (current, email)
                break
            current = merged_into
    return live


def kick_send(session: Session, message: Message) -> None:
    """Have a worker send the message after the commit (at `send_after`, when it is later)."""
    kick_sends(session, [(message.id, message.send_after)])


def kick_sends(session: Session, messages: Sequence[tuple[uuid.UUID, datetime | None]]) -> None:
    """Kicks for many messages, given as (id, send_after), once the caller commits: those due
    now go in tasks of up to `BATCH_SIZE` messages, the others at their time (one task per
    moment)."""
    from herald.email.batch import BATCH_SIZE
    from herald.email.tasks import send_email
    from herald.worker import enqueue_after_commit

    now = utcnow()
    by_time: dict[datetime | None, list[str]] = {}
    for message_id, send_after in messages:
        due = send_after if send_after is not None and send_after > now else None
        by_time.setdefault(due, []).append(str(message_id))
    for due, ids in by_time.items():
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = tuple(ids[start : start + BATCH_SIZE])
            if due is None:
                enqueue_after_commit(session, send_email, *chunk)
            else:
                enqueue_after_commit(session, send_email.schedule, args=chunk, eta=due)


def release_held(session: Session, org_id: uuid.UUID, reason: str) -> int:
    """The organization's queued messages held back for `reason` (their error says so: a pause
    of marketing email, no email provider able to take them) are due now, and kicked once the
    caller commits. Returns how many."""
    ids = list(
        session.scalars(
            sa.select(Message.id).where(
                Message.org_id == org_id,
                Message.status == ledger.QUEUED,
                Message.error == reason,
            )
        )
    )
    now = utcnow()
    for start in range(0, len(ids), 1000):
        session.execute(
            sa.update(Message)
            .where(Message.id.in_(ids[start : start + 1000]), Message.status == ledger.QUEUED)
            .values(send_after=now)
            .execution_options(synchronize_session=False)
        )
    kick_sends(session, [(message_id, None) for message_id in ids])
    return len(ids)


# --- Reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageFilter:
    status: str | None = None
    profile_id: uuid.UUID | None = None
    source: str | None = None
    source_id: uuid.UUID | None = None
    provider: str | None = None
    to_address: str | None = None


def source_name(session: Session, message: Message) -> str | None:
    """The name of the campaign or flow that sent the message (None for the API, or when it was
    deleted)."""
    if message.source_id is None:
        return None
    model: type[Campaign] | type[Flow] | None = (
        Campaign
        if message.source in CAMPAIGN_SOURCES
        else Flow
        if message.source == "flow"
        else None
    )
    if model is None:
        return None
    return session.scalar(
        sa.select(model.name).where(model.id == message.source_id, model.org_id == message.org_id)
    )


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
