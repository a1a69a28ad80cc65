"""Profiles: create, read, update, list, erase, export. No HTTP here."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from herald.analytics import measures
from herald.db import json_text, json_value_like, like_pattern, new_id, utcnow
from herald.errors import Conflict, FieldError, HeraldError, InvalidInput
from herald.messaging import consent
from herald.models import (
    AnonymousId,
    Event,
    EventKey,
    InboundSms,
    Message,
    Profile,
    ProfileChange,
    SegmentMember,
)
from herald.models.profile import DESCRIPTIVE_FIELDS, IDENTIFIERS, LOCATION_FIELDS
from herald.pagination import (
    decode_id_cursor,
    encode_cursor,
    iterate_by_id,
    newest_first,
    time_id_cursor,
)
from herald.profiles import schemas
from herald.profiles.identity import (
    ProfileRef,
    Resolution,
    claim_identifiers,
    erase_hooks,
    live_profile,
    record_change,
    resolve,
)
from herald.segments.compiler import profile_predicate
from herald.segments.definition import ProfileCondition
from herald.tenancy.scope import scoped
from herald.tenancy.service import default_region
from herald.validation import normalize_phone


def phone_for(session: Session, org_id: uuid.UUID, raw: str, field: str = "phone") -> str:
    """A phone number in E.164, read with the organization's default region."""
    try:
        return normalize_phone(raw, default_region(session, org_id))
    except ValueError as exc:
        raise InvalidInput.for_field(field, str(exc)) from exc


def to_schema(profile: Profile) -> schemas.Profile:
    return schemas.Profile(
        id=profile.id,
        email=profile.email,
        phone=profile.phone,
        external_id=profile.external_id,
        first_name=profile.first_name,
        last_name=profile.last_name,
        timezone=profile.timezone,
        location=schemas.Location.model_validate(profile),
        properties=profile.properties or {},
        anonymous=profile.is_anonymous,
        created_at=profile.created_at,
        updated_at=profile.updated_at,
    )


def ref_from_fields(
    session: Session,
    org_id: uuid.UUID,
    fields: schemas.ProfileFields,
    anonymous_id: str | None = None,
) -> ProfileRef:
    phone = phone_for(session, org_id, fields.phone) if fields.phone else None
    return ProfileRef(
        email=fields.email, phone=phone, external_id=fields.external_id, anonymous_id=anonymous_id
    )


def apply_fields(
    profile: Profile,
    fields: schemas.ProfileFields,
    phone: str | None,
    unset: Sequence[str] = (),
) -> bool:
    """Write the fields the caller sent (only those); return whether anything changed."""
    sent = fields.model_fields_set
    before = _snapshot(profile)
    for name in ("email", "external_id", "first_name", "last_name", "timezone"):
        if name in sent:
            setattr(profile, name, getattr(fields, name))
    if "phone" in sent:
        profile.phone = phone
    if "location" in sent:
        location = fields.location
        for name in LOCATION_FIELDS:
            if location is None:
                setattr(profile, name, None)
            elif name in location.model_fields_set:
                setattr(profile, name, getattr(location, name))
    properties = dict(profile.properties or {})
    if fields.properties:
        properties.update(fields.properties)
    for key in unset:
        properties.pop(key, None)
    if properties != (profile.properties or {}):
        profile.properties = properties
    changed = _snapshot(profile) != before
    if changed:
        profile.updated_at = utcnow()
    return changed


@dataclass(frozen=True)
class RequestEvidence:
    """What the request itself shows about a consent change, used where the caller gave none:
    who recorded it, and for browser calls the person's IP address and user agent."""

    source: str = "api"
    ip_address: str | None = None
    user_agent: str | None = None
    default_method: str = "api"


def record_consent_changes(
    session: Session,
    profile: Profile,
    fields: schemas.ProfileFields,
    evidence: RequestEvidence | None = None,
) -> None:
    """Record the consent the caller sent with a profile's fields, if any."""
    if fields.consent is None:
        return
    request = evidence or RequestEvidence()
    for channel in consent.CHANNELS:
        change: schemas.ConsentChange | None = getattr(fields.consent, channel)
        if change is None:
            continue
        record_change_of_consent(session, profile, channel, change, request)


def record_change_of_consent(
    session: Session,
    profile: Profile,
    channel: str,
    change: schemas.ConsentChange,
    request: RequestEvidence,
) -> None:
    method = change.method if "method" in change.model_fields_set else request.default_method
    consent.record_consent(
        session,
        profile,
        channel,
        change.status,
        consent.Evidence(
            method=method,
            text=change.text,
            ip_address=change.ip_address or request.ip_address,
            user_agent=change.user_agent or request.user_agent,
            page_url=change.page_url,
            source=request.source,
            at=change.at,
        ),
    )


def consent_summary(session: Session, profile: Profile) -> schemas.ProfileConsent:
    current = consent.current_statuses(session, profile)

    def channel_state(channel: str) -> schemas.ChannelConsent:
        row = current.get(channel)
        return schemas.ChannelConsent(
            status="none" if row is None else "subscribed" if row.granted else "unsubscribed",
            since=row.recorded_at if row else None,
            method=row.source if row else None,
            can_receive_marketing=consent.can_receive(session, profile, channel),
            suppressed=consent.is_suppressed(session, profile, channel),
        )

    return schemas.ProfileConsent(
        email=channel_state("email"),
        sms=channel_state("sms"),
        history=[
            schemas.ConsentRecord.model_validate(r) for r in consent.history(session, profile)
        ],
    )


def _snapshot(profile: Profile) -> tuple[Any, ...]:
    names = (*IDENTIFIERS, *DESCRIPTIVE_FIELDS)
    return (*(getattr(profile, n) for n in names), json.dumps(profile.properties, sort_keys=True))


def upsert_profile(
    session: Session,
    org_id: uuid.UUID,
    fields: schemas.ProfileFields,
    ref: ProfileRef,
    evidence: RequestEvidence | None = None,
) -> Resolution:
    """Find or create the profile `ref` names (identity.py's rules) and write `fields` to it."""
    resolution = resolve(session, org_id, ref)
    if apply_fields(resolution.profile, fields, ref.phone):
        resolution.changed = True
        if not resolution.created:
            record_change(session, org_id, resolution.profile.id, "updated")
    session.flush()
    record_consent_changes(session, resolution.profile, fields, evidence)
    return resolution


def upsert_profiles(
    session: Session,
    org_id: uuid.UUID,
    items: Sequence[tuple[schemas.ProfileFields, ProfileRef]],
    evidence: RequestEvidence | None = None,
) -> list[Resolution | HeraldError]:
    """`upsert_profile` for each item, with the outcomes of doing them one after another (an
    item's error is its outcome; the others go on). People whom no profile and no other item
    names, as most rows of a first import are, are created together: one look-up and one insert
    for all of them instead of a savepoint and four statements each. The others go one by one
    through identity resolution."""
    outcomes: list[Resolution | HeraldError | None] = [None] * len(items)
    fresh = _plainly_new(session, org_id, items)
    if fresh:
        try:
            with session.begin_nested():
                profiles = []
                for position in fresh:
                    fields, ref = items[position]
                    profile = Profile(
                        id=new_id(), org_id=org_id, properties={}, **ref.identifiers()
                    )
                    changed = apply_fields(profile, fields, ref.phone)
                    profiles.append(profile)
                    outcomes[position] = Resolution(profile, created=True, changed=changed)
                session.add_all(profiles)
                session.flush()
                for profile in profiles:
                    record_change(session, org_id, profile.id, "created")
                session.flush()
                for position, profile in zip(fresh, profiles, strict=True):
                    record_consent_changes(session, profile, items[position][0], evidence)
        except IntegrityError:
            # Someone else created one of these people just now: every item goes one by one.
            outcomes = [None] * len(items)
    for position, (fields, ref) in enumerate(items):
        if outcomes[position] is None:
            try:
                outcomes[position] = upsert_profile(session, org_id, fields, ref, evidence)
            except HeraldError as exc:
                outcomes[position] = exc
    return [outcome for outcome in outcomes if outcome is not None]


def _plainly_new(
    session: Session, org_id: uuid.UUID, items: Sequence[tuple[schemas.ProfileFields, ProfileRef]]
) -> list[int]:
    """The positions of the items naming only identifiers that no profile holds and no other
    item names: creating those first gives what doing all the items in order would."""
    named = Counter(pair for _, ref in items for pair in ref.identifiers().items())
    candidates = [
        position
        for position, (_, ref) in enumerate(items)
        if ref.profile_id is None
        and ref.anonymous_id is None
        and ref.identifiers()
        and all(named[pair] == 1 for pair in ref.identifiers().items())
    ]
    wanted: dict[str, list[str]] = defaultdict(list)
    for position in candidates:
        for name, value in items[position][1].identifiers().items():
            wanted[name].append(value)
    taken: set[tuple[str, str]] = set()
    for name, values in wanted.items():
        column = getattr(Profile, name)
        held = session.scalars(
            sa.select(column).where(Profile.org_id == org_id, column.in_(values))
        )
        taken.update((name, value) for value in held)
    return [
        position
        for position in candidates
        if not any(pair in taken for pair in items[position][1].identifiers().items())
    ]


def identify(
    session: Session,
    org_id: uuid.UUID,
    request: schemas.IdentifyRequest,
    evidence: RequestEvidence | None = None,
) -> Resolution:
    """What POST /api/identify does."""
    ref = ref_from_fields(session, org_id, request, request.anonymous_id)
    return upsert_profile(session, org_id, request, ref, evidence)


def create_profile(
    session: Session,
    org_id: uuid.UUID,
    request: schemas.ProfileCreate,
    evidence: RequestEvidence | None = None,
) -> Profile:
    ref = ref_from_fields(session, org_id, request)
    if not ref.identifiers():
        raise InvalidInput(
            "a profile needs an email, a phone or an external_id",
            [FieldError("email", "give at least one of email, phone and external_id")],
        )
    resolution = resolve(session, org_id, ref)
    if not resolution.created:
        raise Conflict(
            "a profile with these identifiers exists",
            [
                FieldError(name, f"already used by profile {resolution.profile.id}")
                for name in ref.identifiers()
            ],
        )
    apply_fields(resolution.profile, request, ref.phone)
    session.flush()
    record_consent_changes(session, resolution.profile, request, evidence)
    return resolution.profile


def get_profile(session: Session, org_id: uuid.UUID, profile_id: uuid.UUID) -> Profile:
    return live_profile(session, org_id, profile_id)


def update_profile(
    session: Session,
    org_id: uuid.UUID,
    profile_id: uuid.UUID,
    request: schemas.ProfileUpdate,
    evidence: RequestEvidence | None = None,
) -> Profile:
    profile = live_profile(session, org_id, profile_id)
    phone = phone_for(session, org_id, request.phone) if request.phone else None
    wanted = {
        name: value
        for name, value in (
            ("email", request.email),
            ("phone", phone),
            ("external_id", request.external_id),
        )
        if name in request.model_fields_set and value is not None
    }
    claim_identifiers(session, org_id, profile, wanted)
    if apply_fields(profile, request, phone, request.unset):
        record_change(session, org_id, profile.id, "updated")
    session.flush()
    record_consent_changes(session, profile, request, evidence)
    return profile


# --- Listing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileFilter:
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    property_name: str | None = None
    property_value: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    search: str | None = None
    # Only current members of this segment (the caller checks the segment is the org's).
    segment_id: uuid.UUID | None = None
    # A built-in field or custom property compared as segments compare it.
    condition: ProfileCondition | None = None


def filtered(org_id: uuid.UUID, where: ProfileFilter) -> sa.Select[Profile]:
    query = scoped(Profile, org_id).where(Profile.merged_into_id.is_(None))
    if where.email is not None:
        query = query.where(Profile.email == where.email)
    if where.phone is not None:
        query = query.where(Profile.phone == where.phone)
    if where.external_id is not None:
        query = query.where(Profile.external_id == where.external_id)
    if where.property_name is not None:
        # Compared as text: a number 5 matches "5", a boolean true matches "true".
        stored = json_text(Profile.properties, where.property_name)
        query = query.where(stored == where.property_value)
    if where.created_after is not None:
        query = query.where(Profile.created_at >= where.created_after)
    if where.created_before is not None:
        query = query.where(Profile.created_at < where.created_before)
    if where.segment_id is not None:
        query = query.where(
            sa.exists().where(
                SegmentMember.segment_id == where.segment_id,
                SegmentMember.profile_id == Profile.id,
            )
        )
    if where.condition is not None:
        query = query.where(profile_predicate(where.condition, utcnow()))
    if where.search and where.search.strip():
        pattern = f"%{like_pattern(where.search.strip().lower())}%"
        full_name = (
            sa.func.coalesce(Profile.first_name, "") + " " + sa.func.coalesce(Profile.last_name, "")
        )
        query = query.where(
            sa.or_(
                Profile.email.like(pattern, escape="\\"),
                Profile.phone.like(pattern, escape="\\"),
                sa.func.lower(Profile.external_id).like(pattern, escape="\\"),
                sa.func.lower(full_name).like(pattern, escape="\\"),
                *(
                    sa.func.lower(getattr(Profile, name)).like(pattern, escape="\\")
                    for name in SEARCHED_TEXT_FIELDS
                ),
                json_value_like(Profile.properties, pattern),
            )
        )
    return query


# Text fields a search looks in besides the identifiers and the name (custom property values too).
SEARCHED_TEXT_FIELDS = ("city", "region", "country", "zip")
# An exact count up to this many matches; above it the list says "more than".
COUNT_BOUND = 10_000


def count_profiles(
    session: Session, org_id: uuid.UUID, where: ProfileFilter, *, bound: int = COUNT_BOUND
) -> tuple[int, bool]:
    """How many profiles match, exactly when at most `bound` do: (count, exact). Past the bound
    it answers (bound, False) after reading bound + 1 rows, so a count never scans everything."""
    capped = filtered(org_id, where).with_only_columns(Profile.id).limit(bound + 1).subquery()
    count = session.scalar(sa.select(sa.func.count()).select_from(capped)) or 0
    return (count, True) if count <= bound else (bound, False)


# Suggested values come from the organization's newest profiles: a bounded read through the
# (org_id, created_at) index, so it costs the same at a thousand profiles and at a million.
VALUE_SAMPLE = 5_000


def property_values(
    session: Session,
    org_id: uuid.UUID,
    *,
    field: str | None,
    property_name: str | None,
    prefix: str,
    limit: int,
    sample: int = VALUE_SAMPLE,
) -> list[tuple[str, int]]:
    """The most common values of a built-in text field or a custom property among the newest
    `sample` live profiles, starting with `prefix` (ignoring case), with how often each occurs."""
    if field is not None:
        column: sa.ColumnElement[Any] = sa.cast(getattr(Profile, field), sa.String)
    else:
        assert property_name is not None
        column = json_text(Profile.properties, property_name)
    newest = (
        sa.select(column.label("value"))
        .where(Profile.org_id == org_id, Profile.merged_into_id.is_(None))
        .order_by(Profile.created_at.desc())
        .limit(sample)
        .subquery()
    )
    value = newest.c.value
    query = sa.select(value, sa.func.count().label("n")).where(value.is_not(None), value != "")
    if prefix:
        query = query.where(
            sa.func.lower(value).like(f"{like_pattern(prefix.lower())}%", escape="\\")
        )
    query = query.group_by(value).order_by(sa.desc("n"), value).limit(limit)
    return [(str(v), int(n)) for v, n in session.execute(query)]


def list_profiles(
    session: Session,
    org_id: uuid.UUID,
    where: ProfileFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Profile], str | None]:
    """Newest first. Ids are time-ordered (UUIDv7), so the id alone is a stable cursor."""
    query = filtered(org_id, where).order_by(Profile.id.desc())
    if cursor:
        query = query.where(Profile.id < decode_id_cursor(cursor))
    rows = list(session.scalars(query.limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def iterate_profiles(
    session: Session, org_id: uuid.UUID, where: ProfileFilter, batch: int = 1000
) -> Iterator[Profile]:
    """Every matching profile, in batches, without holding them all in memory."""
    yield from iterate_by_id(session, filtered(org_id, where), Profile.id, batch)


# --- Timeline, erasure, export ------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineItem:
    kind: str  # "event", "message" or "sms_received"
    id: uuid.UUID
    time: datetime
    name: str
    properties: dict[str, Any]
    value: float | None
    # A message's opens, clicks, unsubscribes, bounces and complaints, by kind.
    engagement: dict[str, int] | None = None


# The message events a timeline counts for each message.
def message_engagement(
    session: Session, org_id: uuid.UUID, message_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """How many human opens and clicks each message has had, and whether it was unsubscribed
    from, hard-bounced or complained about: the analytics measures, per message."""
    figures = measures.per_message(session, org_id, message_ids)
    engagement = {}
    for message_id in message_ids:
        one = figures.get(message_id) or measures.Measures()
        engagement[message_id] = {
            "opened": one.opens_total,
            "clicked": one.clicks_total,
            "unsubscribed": one.unsubscribes,
            "bounced": one.bounced,
            "complained": one.complaints,
        }
    return engagement


def timeline(
    session: Session,
    org_id: uuid.UUID,
    profile_id: uuid.UUID,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[TimelineItem], str | None]:
    """The person's events, the messages sent to them and the texts they sent, newest first.
    Every kind pages by (time, id), so one cursor walks the merged list."""
    profile = live_profile(session, org_id, profile_id)
    events = session.scalars(
        newest_first(
            sa.select(Event).where(Event.org_id == org_id, Event.profile_id == profile.id),
            Event.time,
            Event.id,
            cursor,
        ).limit(limit + 1)
    )
    messages = session.scalars(
        newest_first(
            sa.select(Message).where(Message.org_id == org_id, Message.profile_id == profile.id),
            Message.created_at,
            Message.id,
            cursor,
        ).limit(limit + 1)
    )
    inbound = session.scalars(
        newest_first(
            sa.select(InboundSms).where(
                InboundSms.org_id == org_id, InboundSms.profile_id == profile.id
            ),
            InboundSms.received_at,
            InboundSms.id,
            cursor,
        ).limit(limit + 1)
    )
    sent = list(messages)
    engagement = message_engagement(session, org_id, [m.id for m in sent])
    items = [TimelineItem("event", e.id, e.time, e.name, e.properties, e.value) for e in events] + [
        TimelineItem(
            "message",
            m.id,
            m.created_at,
            m.subject or f"{m.channel.capitalize()} message",
            {"status": m.status, "channel": m.channel, "source": m.source, "to": m.to_address},
            None,
            engagement[m.id],
        )
        for m in sent
    ]
    items += [
        TimelineItem(
            "sms_received",
            i.id,
            i.received_at,
            i.body,
            {"from": i.from_number, "to": i.to_number, "keyword": i.keyword},
            None,
        )
        for i in inbound
    ]
    items.sort(key=lambda item: (item.time, item.id), reverse=True)
    next_cursor = None
    if len(items) > limit:
        next_cursor = time_id_cursor(items[limit - 1].time, items[limit - 1].id)
    return items[:limit], next_cursor


def erase_profile(session: Session, org_id: uuid.UUID, profile_id: uuid.UUID) -> None:
    """Delete the person: their profile, events and anonymous ids, and every profile merged into
    theirs. Pending change records go too, so nothing downstream acts on them."""
    profile = live_profile(session, org_id, profile_id)
    ids = [
        profile.id,
        *session.scalars(
            sa.select(Profile.id).where(
                Profile.org_id == org_id, Profile.merged_into_id == profile.id
            )
        ),
    ]
    for hook in erase_hooks:
        hook(session, org_id, ids)
    session.execute(sa.delete(Event).where(Event.org_id == org_id, Event.profile_id.in_(ids)))
    session.execute(
        sa.delete(AnonymousId).where(AnonymousId.org_id == org_id, AnonymousId.profile_id.in_(ids))
    )
    session.execute(
        sa.delete(EventKey).where(EventKey.org_id == org_id, EventKey.profile_id.in_(ids))
    )
    session.execute(
        sa.delete(ProfileChange).where(
            ProfileChange.org_id == org_id, ProfileChange.profile_id.in_(ids)
        )
    )
    session.execute(
        sa.update(Profile)
        .where(Profile.org_id == org_id, Profile.id.in_(ids))
        .values(merged_into_id=None)
    )
    session.execute(sa.delete(Profile).where(Profile.org_id == org_id, Profile.id.in_(ids)))
    record_change(session, org_id, profile.id, "deleted")
    session.flush()


def export_person(session: Session, org_id: uuid.UUID, profile_id: uuid.UUID) -> dict[str, Any]:
    """Everything Herald stores about one person, for a data subject access request."""
    profile = live_profile(session, org_id, profile_id)
    merged_ids = list(
        session.scalars(
            sa.select(Profile.id).where(
                Profile.org_id == org_id, Profile.merged_into_id == profile.id
            )
        )
    )
    anonymous_ids = list(
        session.scalars(
            sa.select(AnonymousId.anonymous_id).where(
                AnonymousId.org_id == org_id, AnonymousId.profile_id == profile.id
            )
        )
    )
    events = session.scalars(
        sa.select(Event)
        .where(Event.org_id == org_id, Event.profile_id == profile.id)
        .order_by(Event.time, Event.id)
    )
    return {
        "profile": to_schema(profile).model_dump(mode="json"),
        "anonymous_ids": sorted(anonymous_ids),
        "merged_profile_ids": [str(i) for i in merged_ids],
        "events": [
            {
                "id": str(event.id),
                "name": event.name,
                "time": event.time.isoformat(),
                "properties": event.properties,
                "value": event.value,
                "unique_id": event.unique_id,
                "source": event.source,
                "received_at": event.received_at.isoformat(),
            }
            for event in events
        ],
        "exported_at": utcnow().isoformat(),
    }
