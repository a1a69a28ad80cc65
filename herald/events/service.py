"""Event ingestion and the event catalog. No HTTP here.

`ingest` stores a batch in one transaction: de-duplicate by client id, resolve every profile
(in bulk for the common cases), insert the events, update the catalog of event names, and append
one change record per touched profile for the segment and flow workers. It runs no segment or flow
logic itself.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from herald.db import new_id, utcnow
from herald.errors import FieldError, HeraldError, InvalidInput
from herald.events import schemas
from herald.models import AnonymousId, Event, EventKey, Metric, Profile, ProfileChange
from herald.models.event import METRIC_SHARDS
from herald.pagination import newest_first, time_id_cursor
from herald.profiles.identity import ProfileRef, resolve
from herald.tenancy.scope import scoped
from herald.tenancy.service import default_region
from herald.validation import normalize_phone

SOURCES = ("api", "segment", "import", "sdk")


@dataclass
class EventInput:
    """One event after validation; `profile` still names the person in the caller's terms."""

    name: str
    profile: ProfileRef
    properties: dict[str, Any] = field(default_factory=dict)
    value: float | None = None
    time: datetime | None = None
    unique_id: str | None = None
    # Raw phone as sent; normalized with the organization's region during ingestion.
    raw_phone: str | None = None


@dataclass
class Outcome:
    index: int
    event_id: uuid.UUID | None = None
    profile_id: uuid.UUID | None = None
    duplicate: bool = False
    error: FieldError | None = None
    # What kind of failure, so a single-event call answers 404 or 409 rather than always 422.
    error_type: type[HeraldError] = InvalidInput


def event_input(event: schemas.TrackEvent, default_unique_id: str | None = None) -> EventInput:
    """The ingestion input for a validated tracking request."""
    who = event.profile
    return EventInput(
        name=event.event,
        profile=ProfileRef(
            profile_id=who.id,
            email=who.email,
            external_id=who.external_id,
            anonymous_id=who.anonymous_id,
        ),
        raw_phone=who.phone,
        properties=event.properties,
        value=event.value,
        time=event.time,
        unique_id=event.unique_id or default_unique_id,
    )


def _insert(session: Session, table: Any) -> Any:
    """A dialect's INSERT, which knows ON CONFLICT."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def ingest(
    session: Session, org_id: uuid.UUID, items: list[EventInput], *, source: str = "api"
) -> list[Outcome]:
    """Store a batch of events; return one outcome per item, in order."""
    now = utcnow()
    outcomes = [Outcome(index=i) for i in range(len(items))]
    live = _normalize_phones(session, org_id, items, outcomes)
    live = _skip_known_duplicates(session, org_id, items, outcomes, live)
    _resolve_profiles(session, org_id, items, outcomes, live)
    live = [i for i in live if outcomes[i].error is None]
    live = _claim_unique_ids(session, org_id, items, outcomes, live, now)
    if not live:
        return outcomes

    rows = [
        {
            "id": outcomes[i].event_id,
            "time": items[i].time or now,
            "org_id": org_id,
            "profile_id": outcomes[i].profile_id,
            "name": items[i].name,
            "properties": items[i].properties,
            "value": items[i].value,
            "unique_id": items[i].unique_id,
            "source": source,
            "received_at": now,
        }
        for i in live
    ]
    _store_events(session, rows)
    _update_catalog(session, org_id, [(items[i].name, items[i].time or now) for i in live])
    names_by_profile: dict[uuid.UUID, set[str]] = defaultdict(set)
    for index in live:
        profile_id = outcomes[index].profile_id
        assert profile_id is not None  # every live item was resolved
        names_by_profile[profile_id].add(items[index].name)
    session.execute(
        sa.insert(ProfileChange),
        [
            {
                "org_id": org_id,
                "profile_id": profile_id,
                "reason": "event",
                "event_names": sorted(names),
                "created_at": now,
            }
            for profile_id, names in names_by_profile.items()
        ],
    )
    return outcomes


EVENT_COLUMNS = (
    "id",
    "time",
    "org_id",
    "profile_id",
    "name",
    "properties",
    "value",
    "unique_id",
    "source",
    "received_at",
)


def _store_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert the events: PostgreSQL's COPY on PostgreSQL (several times faster than INSERT for a
    batch), one executemany elsewhere. Both run in the session's transaction."""
    if session.get_bind().dialect.name != "postgresql":
        session.execute(sa.insert(cast(sa.Table, Event.__table__)), rows)
        return
    driver_connection = session.connection().connection.driver_connection
    assert driver_connection is not None
    columns = ", ".join(EVENT_COLUMNS)
    with (
        driver_connection.cursor() as cursor,
        cursor.copy(f"COPY events ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([Jsonb(row[c]) if c == "properties" else row[c] for c in EVENT_COLUMNS])


def _normalize_phones(
    session: Session, org_id: uuid.UUID, items: list[EventInput], outcomes: list[Outcome]
) -> list[int]:
    live = []
    region: str | None = None
    for index, item in enumerate(items):
        if item.raw_phone is not None:
            if region is None:
                region = default_region(session, org_id)
            try:
                phone = normalize_phone(item.raw_phone, region)
            except ValueError as exc:
                outcomes[index].error = FieldError("profile.phone", str(exc))
                continue
            p = item.profile
            item.profile = ProfileRef(p.profile_id, p.email, phone, p.external_id, p.anonymous_id)
            item.raw_phone = None
        live.append(index)
    return live


def _mark_duplicate(outcome: Outcome, key: EventKey) -> None:
    outcome.duplicate = True
    outcome.event_id = key.event_id
    outcome.profile_id = key.profile_id


def _skip_known_duplicates(
    session: Session,
    org_id: uuid.UUID,
    items: list[EventInput],
    outcomes: list[Outcome],
    live: list[int],
) -> list[int]:
    """Answer events whose unique_id is already stored (a retried batch) without more work."""
    unique_ids = {items[i].unique_id for i in live if items[i].unique_id is not None}
    if not unique_ids:
        return live
    known = {
        key.unique_id: key
        for key in session.scalars(
            sa.select(EventKey).where(
                EventKey.org_id == org_id, EventKey.unique_id.in_(list(unique_ids))
            )
        )
    }
    kept = []
    for index in live:
        key = known.get(items[index].unique_id or "")
        if key is None:
            kept.append(index)
        else:
            _mark_duplicate(outcomes[index], key)
    return kept


def _claim_unique_ids(
    session: Session,
    org_id: uuid.UUID,
    items: list[EventInput],
    outcomes: list[Outcome],
    live: list[int],
    now: datetime,
) -> list[int]:
    """Give each new event an id and record its unique_id. Of two events with one unique_id, in
    this batch or in a concurrent one, only the first stored is kept."""
    first_index: dict[str, int] = {}
    for index in live:
        outcomes[index].event_id = new_id()
        unique_id = items[index].unique_id
        if unique_id is not None and unique_id not in first_index:
            first_index[unique_id] = index
    if not first_index:
        return live
    # One statement for the whole batch, compiled once and cached (values vary, shape does not).
    inserted = set(
        session.scalars(
            _insert(session, EventKey).on_conflict_do_nothing().returning(EventKey.unique_id),
            [
                {
                    "org_id": org_id,
                    "unique_id": unique_id,
                    "event_id": outcomes[index].event_id,
                    "profile_id": outcomes[index].profile_id,
                    "created_at": now,
                }
                for unique_id, index in first_index.items()
            ],
        )
    )
    raced = [u for u in first_index if u not in inserted]
    stored = (
        {
            key.unique_id: key
            for key in session.scalars(
                sa.select(EventKey).where(EventKey.org_id == org_id, EventKey.unique_id.in_(raced))
            )
        }
        if raced
        else {}
    )
    kept = []
    for index in live:
        unique_id = items[index].unique_id
        if unique_id is None or (unique_id in inserted and first_index[unique_id] == index):
            kept.append(index)
        elif unique_id in stored:
            _mark_duplicate(outcomes[index], stored[unique_id])
        else:  # the same unique_id earlier in this batch
            first = outcomes[first_index[unique_id]]
            outcomes[index].duplicate = True
            outcomes[index].event_id = first.event_id
            outcomes[index].profile_id = first.profile_id
    return kept


def _resolve_profiles(
    session: Session,
    org_id: uuid.UUID,
    items: list[EventInput],
    outcomes: list[Outcome],
    live: list[int],
) -> None:
    """Set each outcome's profile_id. Common shapes are resolved with a few bulk queries;
    anything that may create, merge or conflict goes through identity.resolve one by one."""
    by_ref: dict[ProfileRef, list[int]] = defaultdict(list)
    for index in live:
        by_ref[items[index].profile].append(index)
    found = _bulk_lookup(session, org_id, list(by_ref))
    found.update(_bulk_create(session, org_id, [ref for ref in by_ref if ref not in found]))
    # A consistent order: two batches creating the same new people lock them in the same order,
    # so one waits for the other instead of deadlocking.
    for ref, indexes in sorted(by_ref.items(), key=lambda item: _ref_order(item[0])):
        profile_id = found.get(ref)
        if profile_id is None:
            try:
                profile_id = resolve(session, org_id, ref).profile.id
            except HeraldError as exc:
                for index in indexes:
                    outcomes[index].error = _profile_error(exc)
                    outcomes[index].error_type = type(exc)
                continue
        for index in indexes:
            outcomes[index].profile_id = profile_id


def _ref_order(ref: ProfileRef) -> tuple[str, ...]:
    return (
        str(ref.profile_id or ""),
        ref.email or "",
        ref.phone or "",
        ref.external_id or "",
        ref.anonymous_id or "",
    )


def _profile_error(exc: HeraldError) -> FieldError:
    if not exc.fields:
        return FieldError("profile", exc.message)
    first = exc.fields[0]
    name = first.field if first.field.startswith("profile") else f"profile.{first.field}"
    return FieldError(name, first.reason)


def _bulk_lookup(
    session: Session, org_id: uuid.UUID, refs: list[ProfileRef]
) -> dict[ProfileRef, uuid.UUID]:
    """Profiles for references that name exactly one existing, unmerged profile by one key."""
    simple: dict[str, dict[str, list[ProfileRef]]] = defaultdict(lambda: defaultdict(list))
    for ref in refs:
        given = ref.given()
        if len(given) == 1:
            ((kind, value),) = given.items()
            simple[kind][str(value)].append(ref)
    result: dict[ProfileRef, uuid.UUID] = {}
    for kind in ("profile_id", "email", "phone", "external_id"):
        wanted = simple.get(kind)
        if not wanted:
            continue
        column = Profile.id if kind == "profile_id" else getattr(Profile, kind)
        values: list[Any] = [uuid.UUID(v) for v in wanted] if kind == "profile_id" else list(wanted)
        rows = session.execute(
            sa.select(column, Profile.id).where(
                Profile.org_id == org_id, column.in_(values), Profile.merged_into_id.is_(None)
            )
        )
        for key, profile_id in rows:
            for ref in wanted[str(key)]:
                result[ref] = profile_id
    wanted = simple.get("anonymous_id")
    if wanted:
        rows = session.execute(
            sa.select(AnonymousId.anonymous_id, Profile.id)
            .join(Profile, Profile.id == AnonymousId.profile_id)
            .where(
                AnonymousId.org_id == org_id,
                AnonymousId.anonymous_id.in_(list(wanted)),
                Profile.merged_into_id.is_(None),
            )
        )
        for key, profile_id in rows:
            for ref in wanted[key]:
                result[ref] = profile_id
    return result


def _bulk_create(
    session: Session, org_id: uuid.UUID, refs: list[ProfileRef]
) -> dict[ProfileRef, uuid.UUID]:
    """Create, in one statement per identifier kind, the new people named by a single email,
    phone or external id (a batch's first events from new customers). A person created by a
    concurrent request meanwhile is simply looked up; every other shape goes through resolve."""
    created: dict[ProfileRef, uuid.UUID] = {}
    now = utcnow()
    for kind in ("email", "phone", "external_id"):
        wanted = {
            getattr(ref, kind): ref
            for ref in refs
            if getattr(ref, kind) is not None and len(ref.given()) == 1
        }
        if not wanted:
            continue
        column = getattr(Profile, kind)
        rows = [
            {
                "id": new_id(),
                "org_id": org_id,
                kind: value,
                "properties": {},
                "created_at": now,
                "updated_at": now,
            }
            for value in sorted(wanted)  # a fixed lock order, as in _resolve_profiles
        ]
        new = dict(
            session.execute(
                _insert(session, Profile).on_conflict_do_nothing().returning(column, Profile.id),
                rows,
            ).all()
        )
        for value, ref in wanted.items():
            if value in new:
                created[ref] = new[value]
        if new:
            session.execute(
                sa.insert(ProfileChange),
                [
                    {"org_id": org_id, "profile_id": pid, "reason": "created", "created_at": now}
                    for pid in new.values()
                ],
            )
    return created


def _update_catalog(session: Session, org_id: uuid.UUID, seen: list[tuple[str, datetime]]) -> None:
    stats: dict[str, list[Any]] = {}
    for name, time in seen:
        if name in stats:
            entry = stats[name]
            entry[0] += 1
            entry[1] = min(entry[1], time)
            entry[2] = max(entry[2], time)
        else:
            stats[name] = [1, time, time]
    postgres = session.get_bind().dialect.name == "postgresql"
    least, greatest = (sa.func.least, sa.func.greatest) if postgres else (sa.func.min, sa.func.max)
    shard = random.randrange(METRIC_SHARDS)  # noqa: S311 (spreading locks, not a secret)
    # Sorted, so that concurrent batches lock catalog rows in the same order and never deadlock.
    for name in sorted(stats):
        count, first, last = stats[name]
        statement = _insert(session, Metric).values(
            id=new_id(),
            org_id=org_id,
            name=name,
            shard=shard,
            event_count=count,
            first_seen_at=first,
            last_seen_at=last,
        )
        excluded = statement.excluded
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[Metric.org_id, Metric.name, Metric.shard],
                set_={
                    "event_count": Metric.event_count + excluded.event_count,
                    "first_seen_at": least(Metric.first_seen_at, excluded.first_seen_at),
                    "last_seen_at": greatest(Metric.last_seen_at, excluded.last_seen_at),
                },
            )
        )


def track_one(
    session: Session, org_id: uuid.UUID, item: EventInput, *, source: str = "api"
) -> Outcome:
    """Store one event, raising the error instead of reporting it."""
    (outcome,) = ingest(session, org_id, [item], source=source)
    if outcome.error is not None:
        error = outcome.error
        raise outcome.error_type(f"{error.field}: {error.reason}", [error])
    return outcome


# --- Reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricSummary:
    name: str
    event_count: int
    first_seen_at: datetime
    last_seen_at: datetime


def list_metrics(session: Session, org_id: uuid.UUID) -> list[MetricSummary]:
    """Every event name with its count and first and last time, the shards added up."""
    last_seen = sa.func.max(Metric.last_seen_at)
    rows = session.execute(
        sa.select(
            Metric.name,
            sa.func.sum(Metric.event_count),
            sa.func.min(Metric.first_seen_at),
            last_seen,
        )
        .where(Metric.org_id == org_id)
        .group_by(Metric.name)
        .order_by(last_seen.desc(), Metric.name)
    )
    return [MetricSummary(name, int(count), first, last) for name, count, first, last in rows]


def recent_events(
    session: Session,
    org_id: uuid.UUID,
    *,
    name: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Event], str | None]:
    """The newest events first, optionally of one name."""
    query = scoped(Event, org_id)
    if name is not None:
        query = query.where(Event.name == name)
    query = newest_first(query, Event.time, Event.id, cursor)
    rows = list(session.scalars(query.limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        next_cursor = time_id_cursor(rows[limit - 1].time, rows[limit - 1].id)
    return rows[:limit], next_cursor
