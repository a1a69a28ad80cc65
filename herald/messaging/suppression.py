"""The suppression list: addresses and numbers an organization must not send marketing to.

A suppression is keyed by (organization, channel, address), not by profile, so it outlives the
profile being erased and recreated. Emails are stored as `normalize_email` returns them; phone
numbers in E.164, read with the organization's default region. Every send checks
`is_suppressed` (or `suppressed_among` for many at once).

Adding or removing one records a profile change for the organization's live profile with that
address, so segments that ask "can receive email/SMS" follow at once.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from herald.db import like_pattern
from herald.errors import FieldError, InvalidInput
from herald.messaging.consent import Evidence, record_consent
from herald.messaging.ledger import record_event
from herald.models import Consent, Message, MessageEvent, Profile, Suppression
from herald.pagination import iterate_by_id, newest_first_page
from herald.profiles.export import csv_stream, neutralize
from herald.profiles.identity import record_change
from herald.tenancy.scope import get_scoped, scoped
from herald.tenancy.service import default_region
from herald.validation import normalize_email, normalize_phone

T = TypeVar("T")
Channel = Literal["email", "sms"]
Reason = Literal["unsubscribe", "hard_bounce", "complaint", "manual", "import", "stop"]
CHANNELS: tuple[Channel, ...] = ("email", "sms")
REASONS: tuple[Reason, ...] = (
    "unsubscribe",
    "hard_bounce",
    "complaint",
    "manual",
    "import",
    "stop",
)
# Reasons that replace a weaker one already on the list: a later hard bounce or complaint must
# not stay recorded as an unsubscribe, which the person could undo on the preference page.
STRENGTH: dict[str, int] = {"complaint": 3, "hard_bounce": 2}
# Reasons the person may undo themselves, on the preference page.
SELF_SERVICE_REASONS = frozenset({"unsubscribe"})
MAX_BULK = 10_000
_CHUNK = 500
EXPORT_COLUMNS = ("id", "channel", "address", "reason", "source", "created_at")


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- addresses -----------------------------------------------------------------------------------


def normalize_address(
    session: Session,
    org_id: uuid.UUID,
    channel: str,
    address: str,
    *,
    region: str | None = None,
    field_name: str = "address",
) -> str:
    """The stored form of an address on a channel, or `InvalidInput` for the field."""
    try:
        if channel == "email":
            return normalize_email(address)
        if channel == "sms":
            return normalize_phone(address, region or default_region(session, org_id))
    except ValueError as exc:
        raise InvalidInput.for_field(field_name, str(exc)) from exc
    raise InvalidInput.for_field("channel", "must be email or sms")


def _lookup_form(session: Session, org_id: uuid.UUID, channel: str, address: str) -> str:
    """The form to look an address up by: normalized when it can be, else as given (an address
    that does not normalize was never stored either)."""
    if channel == "sms" and address.startswith("+") and address[1:].isdigit():
        return address  # already E.164: skip the region lookup on the send path
    try:
        return normalize_address(session, org_id, channel, address)
    except InvalidInput:
        return address.strip().lower() if channel == "email" else address.strip()


def is_suppressed(session: Session, org_id: uuid.UUID, channel: str, address: str) -> bool:
    """Whether marketing on this channel to this address must not be sent."""
    key = _lookup_form(session, org_id, channel, address)
    found = session.scalar(
        sa.select(Suppression.id).where(
            Suppression.org_id == org_id,
            Suppression.channel == channel,
            Suppression.address == key,
        )
    )
    return found is not None


def suppressed_among(
    session: Session, org_id: uuid.UUID, channel: str, addresses: Iterable[str]
) -> set[str]:
    """Of these addresses (already normalized), the ones on the list."""
    found: set[str] = set()
    for chunk in _chunks(sorted(set(addresses)), _CHUNK):
        found.update(
            session.scalars(
                sa.select(Suppression.address).where(
                    Suppression.org_id == org_id,
                    Suppression.channel == channel,
                    Suppression.address.in_(chunk),
                )
            )
        )
    return found


def find(session: Session, org_id: uuid.UUID, channel: str, address: str) -> Suppression | None:
    key = _lookup_form(session, org_id, channel, address)
    return session.scalar(
        scoped(Suppression, org_id).where(
            Suppression.channel == channel, Suppression.address == key
        )
    )


# --- profile changes -----------------------------------------------------------------------------


def touch_profiles(
    session: Session, org_id: uuid.UUID, channel: str, addresses: Collection[str]
) -> None:
    """Record a change for the live profiles with these addresses, so segment membership that
    depends on being able to receive follows."""
    column = Profile.email if channel == "email" else Profile.phone
    for chunk in _chunks(sorted(set(addresses)), _CHUNK):
        profile_ids = session.scalars(
            sa.select(Profile.id).where(
                Profile.org_id == org_id,
                column.in_(chunk),
                Profile.merged_into_id.is_(None),
            )
        )
        for profile_id in profile_ids:
            record_change(session, org_id, profile_id, "updated")


# --- writes --------------------------------------------------------------------------------------


def suppress(
    session: Session,
    org_id: uuid.UUID,
    channel: str,
    address: str,
    *,
    reason: str,
    source: str = "api",
    normalized: bool = False,
) -> tuple[Suppression, bool]:
    """Add an address to the list; returns the row and whether it is new. An address already on
    it keeps its entry, unless the new reason is stronger (a complaint or a hard bounce over an
    unsubscribe, say), which replaces reason and source. Safe against a concurrent add."""
    if reason not in REASONS:
        raise InvalidInput.for_field("reason", f"must be one of {', '.join(REASONS)}")
    key = address if normalized else normalize_address(session, org_id, channel, address)
    existing = find(session, org_id, channel, key)
    if existing is None:
        row = Suppression(
            org_id=org_id, channel=channel, address=key, reason=reason, source=source[:64]
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            existing = find(session, org_id, channel, key)
            if existing is None:
                raise
        else:
            touch_profiles(session, org_id, channel, [key])
            return row, True
    if STRENGTH.get(reason, 1) > STRENGTH.get(existing.reason, 1):
        existing.reason = reason
        existing.source = source[:64]
        session.flush()
    return existing, False


def delete(session: Session, suppression: Suppression) -> None:
    touch_profiles(session, suppression.org_id, suppression.channel, [suppression.address])
    session.delete(suppression)
    session.flush()


def unsuppress(session: Session, org_id: uuid.UUID, suppression_id: uuid.UUID) -> None:
    """Remove an entry by id (404 for another organization's)."""
    delete(session, get_suppression(session, org_id, suppression_id))


def get_suppression(session: Session, org_id: uuid.UUID, suppression_id: uuid.UUID) -> Suppression:
    return get_scoped(session, Suppression, org_id, suppression_id)


@dataclass
class BulkItem:
    channel: str
    address: str
    reason: str
    source: str | None = None


@dataclass
class BulkOutcome:
    created: int = 0
    existing: int = 0
    errors: list[tuple[int, FieldError]] = field(default_factory=list)


def bulk_add(
    session: Session,
    org_id: uuid.UUID,
    items: Sequence[tuple[int, BulkItem]],
    *,
    source: str,
) -> BulkOutcome:
    """Add many entries: good items are stored, each bad one is reported by its index (DESIGN
    invariant 6). Items already on the list (or repeated in the batch) count as `existing`."""
    outcome = BulkOutcome()
    region = default_region(session, org_id)
    wanted: dict[tuple[str, str], BulkItem] = {}
    for index, item in items:
        try:
            key = normalize_address(session, org_id, item.channel, item.address, region=region)
        except InvalidInput as exc:
            outcome.errors.extend((index, error) for error in exc.fields)
            continue
        if (item.channel, key) in wanted:
            outcome.existing += 1
        else:
            wanted[(item.channel, key)] = item
    for channel in CHANNELS:
        addresses = [address for (c, address) in wanted if c == channel]
        present = suppressed_among(session, org_id, channel, addresses)
        new_rows: list[Suppression] = []
        for address in addresses:
            item = wanted[(channel, address)]
            if address in present:
                # Existing entries may still take a stronger reason.
                suppress(
                    session,
                    org_id,
                    channel,
                    address,
                    reason=item.reason,
                    source=item.source or source,
                    normalized=True,
                )
                outcome.existing += 1
                continue
            new_rows.append(
                Suppression(
                    org_id=org_id,
                    channel=channel,
                    address=address,
                    reason=item.reason,
                    source=(item.source or source)[:64],
                )
            )
        for chunk in _chunks(new_rows, _CHUNK):
            try:
                with session.begin_nested():
                    session.add_all(chunk)
            except IntegrityError:
                # Someone added some of these meanwhile: one at a time, each safe on its own.
                for row in chunk:
                    _, created = suppress(
                        session,
                        org_id,
                        channel,
                        row.address,
                        reason=row.reason,
                        source=row.source,
                        normalized=True,
                    )
                    outcome.created += created
                    outcome.existing += not created
                continue
            outcome.created += len(chunk)
            touch_profiles(session, org_id, channel, [row.address for row in chunk])
    outcome.errors.sort(key=lambda error: error[0])
    return outcome


# --- reads ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuppressionFilter:
    channel: str | None = None
    reason: str | None = None
    address: str | None = None  # exact, after normalization
    search: str | None = None  # part of the address


def _filtered(org_id: uuid.UUID, where: SuppressionFilter) -> sa.Select[Suppression]:
    query = scoped(Suppression, org_id)
    if where.channel is not None:
        query = query.where(Suppression.channel == where.channel)
    if where.reason is not None:
        query = query.where(Suppression.reason == where.reason)
    if where.address is not None:
        query = query.where(Suppression.address == where.address)
    if where.search:
        pattern = f"%{like_pattern(where.search.lower())}%"
        query = query.where(Suppression.address.like(pattern, escape="\\"))
    return query


def list_suppressions(
    session: Session,
    org_id: uuid.UUID,
    where: SuppressionFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Suppression], str | None]:
    """Newest first, a page at a time."""
    query = _filtered(org_id, where)
    return newest_first_page(
        session, query, Suppression.created_at, Suppression.id, limit=limit, cursor=cursor
    )


def iterate_suppressions(
    session: Session, org_id: uuid.UUID, where: SuppressionFilter, batch: int = 1000
) -> Iterator[Suppression]:
    """Every matching entry, in batches, without holding them all in memory."""
    yield from iterate_by_id(session, _filtered(org_id, where), Suppression.id, batch)


def csv_lines(rows: Iterable[Suppression]) -> Iterator[bytes]:
    """The header, then one CSV line per entry; text people supplied is neutralized."""
    body = (
        [
            str(row.id),
            row.channel,
            neutralize(row.address),
            row.reason,
            neutralize(row.source),
            row.created_at.isoformat(),
        ]
        for row in rows
    )
    return csv_stream(itertools.chain([EXPORT_COLUMNS], body))


# --- the recipient's own unsubscribe and resubscribe ---------------------------------------------


def _message_address(session: Session, message: Message) -> str:
    try:
        return normalize_address(session, message.org_id, "email", message.to_address)
    except InvalidInput:
        return message.to_address.strip().lower()


def message_suppression(session: Session, message: Message) -> Suppression | None:
    """The entry that stops marketing email to this message's recipient, if there is one."""
    return find(session, message.org_id, "email", _message_address(session, message))


def unsubscribe_message(session: Session, message: Message, *, source: str) -> bool:
    """The recipient unsubscribes through a message's link. Idempotent: a second time adds
    nothing. Returns whether the address was newly suppressed."""
    address = _message_address(session, message)
    _row, created = suppress(
        session,
        message.org_id,
        "email",
        address,
        reason="unsubscribe",
        source=source,
        normalized=True,
    )
    already = session.scalar(
        sa.select(MessageEvent.id)
        .where(MessageEvent.message_id == message.id, MessageEvent.kind == "unsubscribed")
        .limit(1)
    )
    if already is None:
        record_event(session, message, "unsubscribed", data={"source": source})
    return created


def resubscribe_message(session: Session, message: Message, *, source: str) -> bool:
    """The recipient resubscribes on the preference page: removes an unsubscribe, never a
    hard bounce, complaint or an entry the organization made. A withdrawn email consent on their
    profile is given again (they asked for it). Returns whether anything changed."""
    suppression = message_suppression(session, message)
    if suppression is not None:
        if suppression.reason not in SELF_SERVICE_REASONS:
            return False
        delete(session, suppression)
    changed = suppression is not None
    address = _message_address(session, message)
    withdrawn = session.scalars(
        sa.select(Profile)
        .join(Consent, Consent.profile_id == Profile.id)
        .where(
            Profile.org_id == message.org_id,
            Profile.email == address,
            Profile.merged_into_id.is_(None),
            Consent.channel == "email",
            Consent.granted.is_(False),
        )
    ).all()
    for profile in withdrawn:
        record_consent(
            session,
            profile,
            "email",
            "subscribed",
            Evidence(method="preference_page", source=source),
        )
        changed = True
    session.flush()
    return changed
