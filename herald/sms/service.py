"""SMS without HTTP: queueing messages onto the ledger, what Twilio tells Herald (inbound
messages and keywords, delivery reports), and a profile's conversation.

Queued SMS are `messages` rows with channel "sms": the same idempotency key, claim, sweep and
exactly-once guarantee as email (herald.email.service sends both; herald.sms.sending is the
channel's part).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from herald.db import new_ids, utcnow
from herald.errors import FieldError, HeraldError, InvalidInput, NotFound
from herald.messaging import consent, ledger, suppression
from herald.messaging.service import (
    QueuedEmail,
    _insert_new_messages,
    _known_keys,
    kick_sends,
    live_profiles,
)
from herald.models import InboundSms, Message, Organization, Profile
from herald.profiles.identity import ProfileRef, resolve
from herald.sms import configuration, keywords
from herald.sms.twilio import OPTED_OUT_CODE
from herald.tenancy.service import default_region
from herald.validation import normalize_phone

# --- Queueing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsRequest:
    idempotency_key: str
    body: str
    to_profile_id: uuid.UUID | None = None
    to_number: str | None = None
    media_urls: Sequence[str] = ()
    data: Mapping[str, Any] | None = None
    send_after: datetime | None = None
    # What the text sees as `event`: a flow's trigger event (its properties, name and time).
    event: Mapping[str, Any] | None = None


def queue_sms(
    session: Session,
    org_id: uuid.UUID,
    request: SmsRequest,
    *,
    source: str,
    source_id: uuid.UUID | None = None,
    marketing: bool = False,
) -> Message:
    """Record one SMS and kick a worker after the commit; the same key again returns the
    first message and adds nothing."""
    (outcome,) = queue_sms_many(
        session, org_id, [request], source=source, source_id=source_id, marketing=marketing
    )
    if isinstance(outcome, HeraldError):
        raise outcome
    message = session.get(Message, outcome.message_id)
    assert message is not None
    if outcome.created:
        kick_sends(session, [(message.id, message.send_after)])
    return message


def queue_sms_many(
    session: Session,
    org_id: uuid.UUID,
    requests: Sequence[SmsRequest],
    *,
    source: str,
    source_id: uuid.UUID | None = None,
    marketing: bool = False,
) -> list[QueuedEmail | HeraldError]:
    """Record many SMS in a few statements (a campaign's batch); nothing is kicked. Each
    request's message (a `QueuedEmail`, the ledger's record of any queued message) or why it
    got none."""
    region = default_region(session, org_id)
    profiles = live_profiles(
        session, org_id, [r.to_profile_id for r in requests if r.to_profile_id is not None]
    )
    phones = _phones(session, org_id, [p for p, _email in profiles.values()])
    outcomes: list[QueuedEmail | HeraldError | None] = [None] * len(requests)
    rows: dict[str, dict[str, Any]] = {}
    now = utcnow()
    ids = iter(new_ids(len(requests)))
    by_number: dict[str, int] = {}
    for index, request in enumerate(requests):
        recipient = _recipient(request, profiles, phones, region)
        if isinstance(recipient, HeraldError):
            outcomes[index] = recipient
            continue
        if request.send_after is not None and request.send_after.tzinfo is None:
            outcomes[index] = InvalidInput.for_field("send_at", "needs a time zone (or Z)")
            continue
        profile_id, number = recipient
        if profile_id is None and number is not None:
            by_number[number] = index
        if request.idempotency_key in rows:
            continue
        rows[request.idempotency_key] = {
            "id": next(ids),
            "org_id": org_id,
            "profile_id": profile_id,
            "channel": "sms",
            "source": source,
            "source_id": source_id,
            "marketing": marketing,
            "idempotency_key": request.idempotency_key,
            "template_id": None,
            "to_address": number,
            "content": {
                "body": request.body,
                "media_urls": list(request.media_urls),
                "data": dict(request.data or {}),
                **({"event": dict(request.event)} if request.event else {}),
            },
            "status": ledger.QUEUED,
            "attempts": 0,
            "send_after": request.send_after,
            "created_at": now,
            "updated_at": now,
        }
    if by_number:
        linked = dict(
            session.execute(
                sa.select(Profile.phone, Profile.id).where(
                    Profile.org_id == org_id,
                    Profile.phone.in_(list(by_number)),
                    Profile.merged_into_id.is_(None),
                )
            ).all()
        )
        for row in rows.values():
            if row["profile_id"] is None:
                row["profile_id"] = linked.get(row["to_address"])
    inserted = _insert_new_messages(session, list(rows.values()))
    ledger.add_events(
        session,
        ledger.QUEUED,
        [(org_id, row["id"], {"source": source}) for row in rows.values() if row["id"] in inserted],
        at=now,
    )
    taken = [key for key, row in rows.items() if row["id"] not in inserted]
    earlier = _known_keys(session, org_id, taken)
    for index, request in enumerate(requests):
        if outcomes[index] is not None:
            continue
        row = rows[request.idempotency_key]
        if row["id"] in inserted:
            outcomes[index] = QueuedEmail(row["id"], ledger.QUEUED, row["send_after"], created=True)
        else:
            outcomes[index] = earlier[request.idempotency_key]
    return [outcome for outcome in outcomes if outcome is not None]


def _phones(
    session: Session, org_id: uuid.UUID, profile_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str | None]:
    if not profile_ids:
        return {}
    return dict(
        session.execute(
            sa.select(Profile.id, Profile.phone).where(
                Profile.org_id == org_id, Profile.id.in_(profile_ids)
            )
        ).all()
    )


def _recipient(
    request: SmsRequest,
    profiles: dict[uuid.UUID, tuple[uuid.UUID, str | None]],
    phones: dict[uuid.UUID, str | None],
    region: str | None,
) -> tuple[uuid.UUID | None, str] | HeraldError:
    if (request.to_profile_id is None) == (request.to_number is None):
        return InvalidInput(
            "name the recipient by profile id or by phone number, not both",
            [FieldError("to", "give exactly one of profile_id and phone")],
        )
    if request.to_profile_id is not None:
        live = profiles.get(request.to_profile_id)
        if live is None:
            return NotFound("profile not found")
        number = phones.get(live[0])
        if not number:
            return InvalidInput.for_field("to.profile_id", "this profile has no phone number")
        return live[0], number
    assert request.to_number is not None
    try:
        return None, normalize_phone(request.to_number, region)
    except ValueError as exc:
        return InvalidInput.for_field("to.phone", str(exc))


# --- Opt-outs -----------------------------------------------------------------------------------


def opt_out(
    session: Session,
    org_id: uuid.UUID,
    number: str,
    *,
    method: str,
    source: str,
    text: str | None = None,
) -> bool:
    """The number opts out of the organization's SMS, on every one of its numbers: the number is
    suppressed (that outlives the profile) and the profile's SMS consent is withdrawn. Returns
    whether this is a new opt-out (so a confirmation is sent once)."""
    _row, created = suppression.suppress(
        session, org_id, "sms", number, reason="stop", source=source, normalized=True
    )
    profile = _profile_by_phone(session, org_id, number)
    if profile is not None:
        current = consent.current_statuses(session, profile).get("sms")
        if current is None or current.granted:
            consent.record_consent(
                session,
                profile,
                "sms",
                "unsubscribed",
                consent.Evidence(method=method, text=text, source=source),
            )
    return created


def opt_in_by_keyword(session: Session, org_id: uuid.UUID, number: str, text: str) -> Profile:
    """START, YES or UNSTOP: the person subscribes again (a profile is made for a number Herald
    did not know); the opt-out's suppression is lifted with it."""
    profile = resolve(session, org_id, ProfileRef(phone=number)).profile
    consent.record_consent(
        session,
        profile,
        "sms",
        "subscribed",
        consent.Evidence(method="keyword", text=text, source="twilio"),
    )
    return profile


def _profile_by_phone(session: Session, org_id: uuid.UUID, number: str) -> Profile | None:
    return session.scalar(
        sa.select(Profile).where(
            Profile.org_id == org_id, Profile.phone == number, Profile.merged_into_id.is_(None)
        )
    )


# --- Inbound messages ---------------------------------------------------------------------------


def handle_inbound(session: Session, org_id: uuid.UUID, form: Mapping[str, str]) -> str | None:
    """A message someone sent to one of the organization's numbers (already verified as
    Twilio's). Keywords act; everything is stored once (Twilio may deliver a webhook twice).
    Returns the reply to send back, if any."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not sid:
        raise InvalidInput.for_field("MessageSid", "missing")
    organization = session.get(Organization, org_id)
    assert organization is not None
    raw_from = form.get("From", "")
    try:
        number = normalize_phone(raw_from, default_region(session, org_id))
    except ValueError:
        number = raw_from[:32]
    body = form.get("Body", "")
    media = [form[f"MediaUrl{i}"] for i in range(10) if form.get(f"MediaUrl{i}")]
    keyword = keywords.keyword_of(body)
    inbound = InboundSms(
        org_id=org_id,
        from_number=number,
        to_number=form.get("To", "")[:32],
        body=body,
        keyword=keyword,
        media_urls=media,
        provider_message_id=sid[:64],
        data={k: v for k, v in form.items() if k in ("FromCity", "FromState", "FromCountry")},
    )
    try:
        with session.begin_nested():
            session.add(inbound)
    except IntegrityError:
        return None  # delivered before: acted on then
    settings = configuration.get_row(session, org_id)
    reply: str | None = None
    if keyword == "stop":
        if opt_out(session, org_id, number, method="keyword", source="twilio", text=body):
            reply = keywords.reply_for("stop", settings, organization.name)
    elif keyword == "start":
        opt_in_by_keyword(session, org_id, number, body)
        reply = keywords.reply_for("start", settings, organization.name)
    elif keyword == "help":
        reply = keywords.reply_for("help", settings, organization.name)
    profile = _profile_by_phone(session, org_id, number)
    inbound.profile_id = profile.id if profile is not None else None
    inbound.reply = reply
    session.flush()
    return reply


# --- Delivery reports ---------------------------------------------------------------------------

# How far along a message is: a report never moves it back, and a final outcome (delivered,
# or failed with its code) is never overwritten by another.
_RANK = {
    ledger.QUEUED: 0,
    ledger.SENDING: 1,
    ledger.SENT: 2,
    ledger.DELIVERED: 3,
    ledger.FAILED: 3,
    ledger.SUPPRESSED: 3,
    ledger.SKIPPED: 3,
    ledger.BOUNCED: 3,
    ledger.COMPLAINED: 3,
}
_TWILIO_STATUS = {
    "queued": ledger.SENT,  # Twilio took it: what the ledger calls sent
    "accepted": ledger.SENT,
    "sending": ledger.SENT,
    "sent": ledger.SENT,
    "delivered": ledger.DELIVERED,
    "read": ledger.DELIVERED,
    "undelivered": ledger.FAILED,
    "failed": ledger.FAILED,
    "canceled": ledger.FAILED,
}


def handle_status(
    session: Session, org_id: uuid.UUID, message_id: uuid.UUID, form: Mapping[str, str]
) -> str:
    """A delivery report for one message. Returns what was done ("moved", "ignored")."""
    message = session.scalar(
        sa.select(Message)
        .where(Message.id == message_id, Message.org_id == org_id, Message.channel == "sms")
        .with_for_update()
    )
    if message is None:
        raise NotFound("message not found")
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    reported = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    status = _TWILIO_STATUS.get(reported)
    if status is None or not sid:
        return "ignored"
    if message.provider_message_id and message.provider_message_id != sid:
        return "ignored"  # a report about another send of this row (should not happen)
    if _RANK[status] <= _RANK.get(message.status, 3):
        return "ignored"
    code = form.get("ErrorCode") or None
    data: dict[str, Any] = {"provider": "twilio", "provider_status": reported}
    if code:
        data["error_code"] = code
    if message.status == ledger.SENDING:
        # The worker that sent it has not recorded Twilio's answer (it may have died): the
        # report records it instead, so the sweep will not send it again.
        message.heartbeat_at = None
    message.provider_message_id = sid
    message.provider = "twilio"
    if status == ledger.FAILED:
        message.error = f"Twilio: {reported}" + (f" ({code})" if code else "")
    event = ledger.set_status(
        session, message, status, data=data, provider_event_id=f"twilio:{sid}:{reported}"
    )
    if event is None:
        return "ignored"
    if code == str(OPTED_OUT_CODE) and message.to_address:
        opt_out(session, org_id, message.to_address, method="carrier", source="twilio:21610")
    session.flush()
    return "moved"


# --- The conversation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversationItem:
    direction: str
    id: uuid.UUID
    time: datetime
    body: str
    status: str | None
    keyword: str | None


def conversation(
    session: Session, org_id: uuid.UUID, profile: Profile, limit: int = 100
) -> list[ConversationItem]:
    """The profile's SMS both ways, newest first."""
    outbound = session.scalars(
        sa.select(Message)
        .where(
            Message.org_id == org_id,
            Message.profile_id == profile.id,
            Message.channel == "sms",
        )
        .order_by(Message.created_at.desc())
        .limit(limit)
    )
    inbound = session.scalars(
        sa.select(InboundSms)
        .where(InboundSms.org_id == org_id, InboundSms.profile_id == profile.id)
        .order_by(InboundSms.received_at.desc())
        .limit(limit)
    )
    items = [
        ConversationItem(
            "outbound",
            m.id,
            m.sent_at or m.created_at,
            m.subject or (m.content or {}).get("body", ""),
            m.status,
            None,
        )
        for m in outbound
    ] + [ConversationItem("inbound", i.id, i.received_at, i.body, None, i.keyword) for i in inbound]
    items.sort(key=lambda item: item.time, reverse=True)
    return items[:limit]
