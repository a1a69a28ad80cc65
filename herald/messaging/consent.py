"""Consent: the history of what each person agreed to on each channel, and the one rule that
decides whether a person may receive marketing on a channel (DESIGN: "one consent rule").

Every change is a `ConsentRecord` with its evidence (how, the words agreed to, IP address, user
agent, page). The current status is derived from the history: the latest record by the time the
person gave or withdrew it, kept in `consents` so that segments, audiences and send checks read one
row per profile and channel.

The rule (`may_receive_clause` for queries, `refused_among` for a batch of messages):
- the profile has an address on the channel and the address is not on the suppression list;
- email: the person has not withdrawn consent (no record means they may receive);
- SMS: the person's current status is subscribed (given expressly, as the TCPA requires).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from herald.db import utcnow
from herald.errors import InvalidInput
from herald.models import Consent, ConsentRecord, Profile, Suppression
from herald.profiles.identity import record_change

Channel = Literal["email", "sms"]
Status = Literal["subscribed", "unsubscribed"]
Method = Literal[
    "form", "api", "import", "keyword", "dashboard", "preference_page", "carrier", "sdk"
]
CHANNELS: tuple[Channel, ...] = ("email", "sms")
STATUSES: tuple[Status, ...] = ("subscribed", "unsubscribed")
METHODS: tuple[str, ...] = Method.__args__  # type: ignore[attr-defined]
# Suppressions that a new, express subscription lifts: the person's own opt-outs. A hard bounce,
# a complaint, a carrier block or an entry the organization made stays.
LIFTED_BY_SUBSCRIBING = frozenset({"unsubscribe", "stop"})

Bool = ColumnElement[bool]


@dataclass(frozen=True)
class Evidence:
    """How a consent change came about, kept with it."""

    method: str
    text: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None
    page_url: str | None = None
    # Who recorded it: "api", "dashboard", an import's job id, "twilio"...
    source: str = "api"
    # When the person gave or withdrew it; now when not known.
    at: datetime | None = None


def record_consent(
    session: Session, profile: Profile, channel: str, status: str, evidence: Evidence
) -> ConsentRecord:
    """Add a record to the profile's history and derive its current status from it. A record
    dated before the latest one is kept in the history but does not change the status."""
    if channel not in CHANNELS:
        raise InvalidInput.for_field("channel", "must be email or sms")
    if status not in STATUSES:
        raise InvalidInput.for_field("status", "must be subscribed or unsubscribed")
    if evidence.method not in METHODS:
        raise InvalidInput.for_field("method", f"must be one of {', '.join(METHODS)}")
    address = profile.email if channel == "email" else profile.phone
    when = evidence.at or utcnow()
    record = ConsentRecord(
        org_id=profile.org_id,
        profile_id=profile.id,
        channel=channel,
        status=status,
        method=evidence.method,
        address=address,
        consent_text=evidence.text,
        ip_address=(evidence.ip_address or None) and evidence.ip_address[:45],
        user_agent=(evidence.user_agent or None) and evidence.user_agent[:400],
        page_url=evidence.page_url,
        source=evidence.source[:64],
        recorded_at=when,
    )
    session.add(record)
    current = session.get(Consent, (profile.id, channel))
    if current is None:
        session.add(
            Consent(
                profile_id=profile.id,
                channel=channel,
                org_id=profile.org_id,
                granted=status == "subscribed",
                source=evidence.method,
                recorded_at=when,
            )
        )
    elif current.recorded_at <= when:
        current.granted = status == "subscribed"
        current.source = evidence.method
        current.recorded_at = when
    else:
        session.flush()
        return record  # an older record: history only
    if status == "subscribed" and address is not None:
        _lift_own_opt_outs(session, profile.org_id, channel, address)
    record_change(session, profile.org_id, profile.id, "updated")
    session.flush()
    return record


def _lift_own_opt_outs(session: Session, org_id: uuid.UUID, channel: str, address: str) -> None:
    session.execute(
        sa.delete(Suppression).where(
            Suppression.org_id == org_id,
            Suppression.channel == channel,
            Suppression.address == address,
            Suppression.reason.in_(LIFTED_BY_SUBSCRIBING),
        )
    )


def history(
    session: Session, profile: Profile, channel: str | None = None, limit: int = 200
) -> list[ConsentRecord]:
    """The profile's consent records, newest first."""
    query = sa.select(ConsentRecord).where(
        ConsentRecord.org_id == profile.org_id, ConsentRecord.profile_id == profile.id
    )
    if channel is not None:
        query = query.where(ConsentRecord.channel == channel)
    order = (ConsentRecord.recorded_at.desc(), ConsentRecord.created_at.desc())
    return list(session.scalars(query.order_by(*order).limit(limit)))


def current_statuses(session: Session, profile: Profile) -> dict[str, Consent]:
    """The profile's current consent row on each channel where it has one."""
    rows = session.scalars(
        sa.select(Consent).where(Consent.org_id == profile.org_id, Consent.profile_id == profile.id)
    )
    return {row.channel: row for row in rows}


# --- The rule -----------------------------------------------------------------------------------


def _address_column(channel: str) -> ColumnElement[str | None]:
    column = Profile.email if channel == "email" else Profile.phone
    return column.expression


def suppressed_clause(channel: str) -> Bool:
    """The profile's address on the channel is on its organization's suppression list."""
    return sa.exists().where(
        Suppression.org_id == Profile.org_id,
        Suppression.channel == channel,
        Suppression.address == _address_column(channel),
    )


def consent_refused_clause(channel: str) -> Bool:
    """The profile's consent does not allow marketing on the channel: email, withdrawn; SMS,
    not currently given."""
    mine = sa.select(Consent.profile_id).where(
        Consent.profile_id == Profile.id, Consent.channel == channel
    )
    if channel == "email":
        return sa.exists(mine.where(Consent.granted.is_(False)))
    return ~sa.exists(mine.where(Consent.granted.is_(True)))


def may_receive_clause(channel: str) -> Bool:
    """Whether the profile (a row of `Profile` in the query) may receive marketing on the
    channel: the one rule, as SQL."""
    return sa.and_(
        _address_column(channel).is_not(None),
        ~suppressed_clause(channel),
        ~consent_refused_clause(channel),
    )


def refused_among(
    session: Session, org_id: uuid.UUID, channel: str, profile_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Of these profiles, those whose consent does not allow marketing on the channel (the
    send-time check; suppression is checked by address, in `suppression`)."""
    if not profile_ids:
        return set()
    rows = session.execute(
        sa.select(Consent.profile_id, Consent.granted).where(
            Consent.org_id == org_id,
            Consent.profile_id.in_(profile_ids),
            Consent.channel == channel,
        )
    )
    granted = {profile_id: value for profile_id, value in rows}
    if channel == "email":
        return {p for p, value in granted.items() if value is False}
    return {p for p in profile_ids if granted.get(p) is not True}


def can_receive(session: Session, profile: Profile, channel: str) -> bool:
    """The rule for one profile, by the same SQL segments and audiences use."""
    allowed = session.scalar(sa.select(may_receive_clause(channel)).where(Profile.id == profile.id))
    return bool(allowed)


def is_suppressed(session: Session, profile: Profile, channel: str) -> bool:
    return bool(
        session.scalar(sa.select(suppressed_clause(channel)).where(Profile.id == profile.id))
    )
