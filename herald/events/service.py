"""Event ingestion and the event catalog. No HTTP here.

`ingest` stores a batch in one transaction: de-duplicate by client id, resolve every profile
(in bulk for the common cases), insert the events, update the catalog of event names, and append
one change record per touched profile for the segment and flow workers. It runs no segment or flow
logic itself.

On PostgreSQL the bulk statements take whole columns as array parameters (`= ANY(...)`,
`unnest(...)`) and the events and change records go in with COPY: a statement's text and its
parameter count stay the same whatever the batch size, so nothing is re-parsed or re-planned per
row. Elsewhere the same steps run as portable SQLAlchemy statements.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from herald.analytics import marks
from herald.db import get_database, new_ids, utcnow
from herald.errors import FieldError, HeraldError, InvalidInput
from herald.events import schemas
from herald.events.pgtext import (
    NULL,
    array_literal,
    copy_json,
    copy_optional,
    copy_text,
    json_text,
    uuid_array_literal,
)
from herald.models import AnonymousId, Event, EventKey, Metric, Profile, ProfileChange
from herald.models.event import METRIC_SHARDS
from herald.observability.metrics import EVENTS_INGESTED
from herald.pagination import newest_first_page
from herald.profiles.identity import ProfileRef, resolve
from herald.tenancy.scope import scoped
from herald.tenancy.service import default_region
from herald.validation import normalize_phone

SOURCES = ("api", "segment", "import", "sdk")

logger = logging.getLogger(__name__)


@dataclass(slots=True)
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


@dataclass(slots=True)
class Outcome:
    index: int
    event_id: uuid.UUID | None = None
    profile_id: uuid.UUID | None = None
    duplicate: bool = False
    error: FieldError | None = None
    # What kind of failure, so a single-event call answers 404 or 409 rather than always 422.
    error_type: type[HeraldError] = InvalidInput


@dataclass(slots=True)
class _Call:
    """One `ingest` call: what it stores, for whom, and where."""

    session: Session
    org_id: uuid.UUID
    items: list[EventInput]
    outcomes: list[Outcome]
    source: str
    requests: Sequence[int] | None
    now: datetime
    postgres: bool
    # On PostgreSQL, each stored event's id and its profile's id as text, by item index: made once,
    # whichever statements they go into.
    event_texts: dict[int, str] = field(default_factory=dict)
    profile_texts: dict[int, str] = field(default_factory=dict)


def event_input(event: schemas.TrackEvent, default_unique_id: str | None = None) -> EventInput:
    """The ingestion input for a validated tracking request."""
    who = event.profile
    return EventInput(
        name=event.event,
        profile=ProfileRef(who.id, who.email, None, who.external_id, who.anonymous_id),
        raw_phone=who.phone,
        properties=event.properties,
        value=event.value,
        time=event.time,
        unique_id=event.unique_id or default_unique_id,
    )


def ingest(
    session: Session,
    org_id: uuid.UUID,
    items: list[EventInput],
    *,
    source: str = "api",
    requests: Sequence[int] | None = None,
) -> list[Outcome]:
    """Store a batch of events; return one outcome per item, in order.

    When one call stores the events of several requests (grouped single events), `requests`
    gives each item's request: the hand-off to the workers stays one `event` change per profile
    per request, exactly as if each request had been stored on its own."""
    outcomes = [Outcome(index=i) for i in range(len(items))]
    postgres = session.get_bind().dialect.name == "postgresql"
    call = _Call(session, org_id, items, outcomes, source, requests, utcnow(), postgres)
    live = _normalize_phones(session, org_id, items, outcomes)
    # Retried events (a unique_id already stored) are recognized when their keys are claimed,
    # after their profiles are resolved: a retried event's person is found, not created again,
    # and a batch of new events (the common case) needs no look-up of its keys beforehand.
    _resolve_profiles(call, live)
    _recognize_failed_retries(call, live)
    live = [i for i in live if outcomes[i].error is None and not outcomes[i].duplicate]
    for index, event_id in zip(live, new_ids(len(live)), strict=True):
        outcomes[index].event_id = event_id
        if postgres:
            call.event_texts[index] = str(event_id)
    first_index = _first_claims(items, live)
    # Analytics' hand-off: these events' hours need their rollups recomputed.
    marks.mark_hours(session, org_id, [items[i].time or call.now for i in live])
    if postgres and len(live) <= SMALL_BATCH:
        _settle_claims(call, live, first_index, _store_small(call, live, first_index))
        return _counted(outcomes, source)
    live = _claim_unique_ids(call, live, first_index)
    if live:
        _store_events(call, live)
        _update_catalog(
            session, org_id, [(items[i].name, items[i].time or call.now) for i in live], postgres
        )
        _record_event_changes(call, live)
    return _counted(outcomes, source)


def _counted(outcomes: list[Outcome], source: str) -> list[Outcome]:
    """Count a batch's outcomes for /metrics (herald_events_ingested_total)."""
    rejected = sum(1 for o in outcomes if o.error is not None)
    duplicates = sum(1 for o in outcomes if o.error is None and o.duplicate)
    for outcome, count in (
        ("stored", len(outcomes) - rejected - duplicates),
        ("duplicate", duplicates),
        ("rejected", rejected),
    ):
        if count:
            EVENTS_INGESTED.labels(outcome, source).inc(count)
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
CHANGE_COLUMNS = ("org_id", "profile_id", "reason", "event_names", "created_at")
# A change record: org_id, profile_id, reason, event_names, created_at.
ChangeRow = tuple[uuid.UUID, uuid.UUID, str, list[str] | None, datetime]


# Where ingestion's statements run: the caller's session, or (for new people on PostgreSQL) a
# connection of their own.
Executor = Session | sa.Connection


@contextmanager
def _driver_cursor(executor: Executor, statement: str) -> Iterator[Any]:
    """A psycopg cursor on the executor's connection, inside its transaction. Errors come out as
    SQLAlchemy's (IntegrityError, OperationalError, ...), as from session.execute."""
    connection = executor.connection() if isinstance(executor, Session) else executor
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    try:
        with driver_connection.cursor() as cursor:
            yield cursor
    except psycopg.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


def _pg_rows(
    executor: Executor, statement: str, params: dict[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run one of the PostgreSQL statements below on the session's connection, straight through
    psycopg: their text is fixed, so SQLAlchemy would add only per-statement and per-row work."""
    with _driver_cursor(executor, statement) as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description is not None else []


# Up to this many events (a group of single events, a small batch) are stored by one statement:
# their key claims, the events, the catalog counts and the change records. Otherwise those are
# about ten round trips to PostgreSQL (two for each COPY), which cost a group of single events
# more than its rows; a large batch goes through COPY, cheaper a row for PostgreSQL.
SMALL_BATCH = 64

_CATALOG_MERGE = (
    "ON CONFLICT (org_id, name, shard) DO UPDATE SET "
    "event_count = metrics.event_count + excluded.event_count, "
    "first_seen_at = least(metrics.first_seen_at, excluded.first_seen_at), "
    "last_seen_at = greatest(metrics.last_seen_at, excluded.last_seen_at)"
)
# Claims in the batch's order, catalog rows by name in code point order (COLLATE "C", as Python
# sorts), as the large path takes their locks; the events stored are those without a unique_id
# and those whose unique_id this statement claimed.
_STORE_SMALL_PG = (
    "WITH input AS (SELECT * FROM unnest(%(ids)s::uuid[], %(times)s::timestamptz[], "  # noqa: S608
    "%(profile_ids)s::uuid[], %(names)s::varchar[], %(properties)s::jsonb[], "
    "%(event_values)s::numeric[], %(unique_ids)s::varchar[], %(requests)s::int[]) "
    "WITH ORDINALITY AS i(id, time, profile_id, name, properties, value, unique_id, request, "
    "position)), "
    "claimed AS (INSERT INTO event_keys (org_id, unique_id, event_id, profile_id, created_at) "
    "SELECT %(org_id)s, unique_id, id, profile_id, %(now)s FROM input "
    "WHERE unique_id IS NOT NULL ORDER BY position ON CONFLICT DO NOTHING RETURNING unique_id), "
    "stored AS (SELECT * FROM input "
    "WHERE unique_id IS NULL OR unique_id IN (SELECT unique_id FROM claimed)), "
    f"stored_events AS (INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
    "SELECT id, time, %(org_id)s, profile_id, name, properties, value, unique_id, %(source)s, "
    "%(now)s FROM stored), "
    "counted AS (INSERT INTO metrics "
    "(id, org_id, name, shard, event_count, first_seen_at, last_seen_at) "
    "SELECT m.id, %(org_id)s, s.name, %(shard)s, s.n, s.first, s.last FROM (SELECT name, "
    "count(*) AS n, min(time) AS first, max(time) AS last FROM stored GROUP BY name) AS s "
    "JOIN unnest(%(metric_names)s::varchar[], %(metric_ids)s::uuid[]) AS m(name, id) "
    f'ON m.name = s.name ORDER BY s.name COLLATE "C" {_CATALOG_MERGE}), '
    f"changes AS (INSERT INTO profile_changes ({', '.join(CHANGE_COLUMNS)}) "
    "SELECT %(org_id)s, profile_id, 'event', "
    'jsonb_agg(DISTINCT name COLLATE "C" ORDER BY name COLLATE "C"), %(now)s '
    "FROM stored GROUP BY request, profile_id ORDER BY min(position)) "
    "SELECT unique_id FROM claimed"
)


def _store_small(call: _Call, live: list[int], first_index: dict[str, int]) -> set[str]:
    """Claim, store, count and record a few events in one statement (see SMALL_BATCH); return the
    unique_ids it claimed. A later event repeating a unique_id of this call is left to
    _settle_claims, as on the large path."""
    items, requests = call.items, call.requests
    candidates = [i for i in live if (u := items[i].unique_id) is None or first_index[u] == i]
    if not candidates:
        return set()
    stamp = call.now.isoformat()
    names = sorted({items[i].name for i in candidates})
    rows = _pg_rows(
        call.session,
        _STORE_SMALL_PG,
        {
            "org_id": call.org_id,
            "now": call.now,
            "source": call.source,
            "shard": random.randrange(METRIC_SHARDS),  # noqa: S311 (see _update_catalog)
            "ids": uuid_array_literal(call.event_texts[i] for i in candidates),
            "times": array_literal(
                stamp if (t := items[i].time) is None else t.isoformat() for i in candidates
            ),
            "profile_ids": uuid_array_literal(call.profile_texts[i] for i in candidates),
            "names": array_literal(items[i].name for i in candidates),
            "properties": array_literal(json_text(items[i].properties) for i in candidates),
            "event_values": array_literal(
                None if items[i].value is None else repr(items[i].value) for i in candidates
            ),
            "unique_ids": array_literal(items[i].unique_id for i in candidates),
            "requests": array_literal(
                "0" if requests is None else str(requests[i]) for i in candidates
            ),
            "metric_names": array_literal(names),
            "metric_ids": uuid_array_literal(new_ids(len(names))),
        },
    )
    return {unique_id for (unique_id,) in rows}


def _store_events(call: _Call, live: list[int]) -> None:
    """Insert the events: PostgreSQL's COPY on PostgreSQL (several times faster than INSERT for a
    batch), one executemany elsewhere. Both run in the session's transaction."""
    items = call.items
    outcomes = call.outcomes
    org_id = call.org_id
    source = call.source
    now = call.now
    if not call.postgres:
        call.session.execute(
            sa.insert(cast(sa.Table, Event.__table__)),
            [
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
            ],
        )
        return
    event_texts, profile_texts = call.event_texts, call.profile_texts
    org = str(org_id)
    stamp = now.isoformat()
    rows = []
    for i in live:
        item = items[i]
        rows.append(
            f"{event_texts[i]}\t"
            f"{stamp if item.time is None else item.time.isoformat()}\t{org}\t"
            f"{profile_texts[i]}\t"
            f"{copy_text(item.name)}\t{copy_json(item.properties)}\t"
            f"{NULL if item.value is None else repr(item.value)}\t"
            f"{copy_optional(item.unique_id)}\t{source}\t{stamp}\n"
        )
    _copy(call.session, "events", EVENT_COLUMNS, rows)


def _copy(executor: Executor, table: str, columns: Sequence[str], rows: list[str]) -> None:
    """COPY rows already in COPY's text format (see pgtext) into a table, in one write."""
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with _driver_cursor(executor, statement) as cursor, cursor.copy(statement) as copy:
        copy.write("".join(rows))


def _record_event_changes(call: _Call, live: list[int]) -> None:
    """One `event` change per profile per request, naming the events stored."""
    names_by_change: dict[tuple[int, Any], set[str]] = defaultdict(set)
    requests = call.requests
    # On PostgreSQL the profile's id as text: keyed and written without converting it again.
    profiles: Any = call.profile_texts if call.postgres else None
    for index in live:
        profile = call.outcomes[index].profile_id if profiles is None else profiles[index]
        request = 0 if requests is None else requests[index]
        names_by_change[request, profile].add(call.items[index].name)
    if not call.postgres:
        _record_changes(
            call.session,
            [
                (call.org_id, profile_id, "event", sorted(names), call.now)
                for (_, profile_id), names in names_by_change.items()
            ],
            postgres=False,
        )
        return
    org, stamp = str(call.org_id), call.now.isoformat()
    lines = []
    names_texts: dict[tuple[str, ...], str] = {}  # most changes name one of a few events
    for (_, profile), names in names_by_change.items():
        key = tuple(sorted(names))
        names_text = names_texts.get(key) or names_texts.setdefault(key, copy_json(list(key)))
        lines.append(f"{org}\t{profile}\tevent\t{names_text}\t{stamp}\n")
    _copy(call.session, "profile_changes", CHANGE_COLUMNS, lines)


def _record_changes(executor: Executor, rows: list[ChangeRow], postgres: bool) -> None:
    """Append change records for the workers: COPY on PostgreSQL, one executemany elsewhere."""
    if not rows:
        return
    if not postgres:
        executor.execute(
            sa.insert(cast(sa.Table, ProfileChange.__table__)),
            [dict(zip(CHANGE_COLUMNS, row, strict=True)) for row in rows],
        )
        return
    lines = [
        f"{org_id}\t{profile_id}\t{reason}\t{NULL if names is None else copy_json(names)}\t"
        f"{created_at.isoformat()}\n"
        for org_id, profile_id, reason, names, created_at in rows
    ]
    _copy(executor, "profile_changes", CHANGE_COLUMNS, lines)


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


# (event_id, profile_id) of stored event keys, by unique_id.
KnownKeys = dict[str, tuple[uuid.UUID, uuid.UUID]]

# One probe of the primary key per unique id (a LATERAL subquery with LIMIT 1, which PostgreSQL
# plans as a nested loop over the index whatever its statistics). With `unique_id = ANY(list)` or
# a join, the planner chose to read the whole table for a thousand ids on tables of 20,000 to
# 100,000 rows, analyzed or not: 3 to 20 times slower, and slower as the table grows.
_KNOWN_KEYS_PG = (
    "SELECT w.key, k.event_id, k.profile_id "
    "FROM unnest(%(unique_ids)s::varchar[]) AS w(key) CROSS JOIN LATERAL ("
    "SELECT event_id, profile_id FROM event_keys "
    "WHERE org_id = %(org_id)s AND unique_id = w.key LIMIT 1) k"
)


def _known_keys(
    session: Session, org_id: uuid.UUID, unique_ids: list[str], postgres: bool
) -> KnownKeys:
    """The stored keys among these unique ids."""
    rows: Any
    if postgres:
        rows = _pg_rows(
            session,
            _KNOWN_KEYS_PG,
            {"org_id": org_id, "unique_ids": array_literal(unique_ids)},
        )
    else:
        rows = session.execute(
            sa.select(EventKey.unique_id, EventKey.event_id, EventKey.profile_id).where(
                EventKey.org_id == org_id, EventKey.unique_id.in_(unique_ids)
            )
        )
    return {unique_id: (event_id, profile_id) for unique_id, event_id, profile_id in rows}


def _mark_duplicate(outcome: Outcome, key: tuple[uuid.UUID, uuid.UUID]) -> None:
    outcome.duplicate = True
    outcome.event_id, outcome.profile_id = key


def _recognize_failed_retries(call: _Call, live: list[int]) -> None:
    """An event whose profile could not be resolved but whose unique_id is already stored (a
    retry, after its person was changed) is answered as the duplicate it is, not as an error."""
    items, outcomes = call.items, call.outcomes
    failed = [i for i in live if outcomes[i].error is not None and items[i].unique_id is not None]
    if not failed:
        return
    unique_ids = list({items[i].unique_id or "" for i in failed})
    known = _known_keys(call.session, call.org_id, unique_ids, call.postgres)
    for index in failed:
        key = known.get(items[index].unique_id or "")
        if key is not None:
            outcomes[index].error = None
            outcomes[index].error_type = InvalidInput
            _mark_duplicate(outcomes[index], key)


_CLAIM_KEYS_PG = (
    "INSERT INTO event_keys (org_id, unique_id, event_id, profile_id, created_at) "
    "SELECT %(org_id)s, k.unique_id, k.event_id, k.profile_id, %(now)s "
    "FROM unnest(%(unique_ids)s::varchar[], %(event_ids)s::uuid[], %(profile_ids)s::uuid[]) "
    "AS k(unique_id, event_id, profile_id) "
    "ON CONFLICT DO NOTHING RETURNING unique_id"
)


def _claim_unique_ids(call: _Call, live: list[int], first_index: dict[str, int]) -> list[int]:
    """Record the unique_id of each new event; return the events to store. Of two events with one
    unique_id, in this batch or in a concurrent one, only the first stored is kept."""
    if not first_index:
        return live
    session = call.session
    org_id = call.org_id
    outcomes = call.outcomes
    now = call.now
    # One statement for the whole batch, in the batch's order (the order its key locks are taken).
    if call.postgres:
        rows = _pg_rows(
            session,
            _CLAIM_KEYS_PG,
            {
                "org_id": org_id,
                "now": now,
                "unique_ids": array_literal(first_index),
                "event_ids": uuid_array_literal(call.event_texts[i] for i in first_index.values()),
                "profile_ids": uuid_array_literal(
                    call.profile_texts[i] for i in first_index.values()
                ),
            },
        )
        inserted = {unique_id for (unique_id,) in rows}
    else:
        inserted = set(
            session.scalars(
                sqlite.insert(EventKey).on_conflict_do_nothing().returning(EventKey.unique_id),
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
    return _settle_claims(call, live, first_index, inserted)


def _first_claims(items: list[EventInput], live: list[int]) -> dict[str, int]:
    """The first event of each unique_id among these."""
    first_index: dict[str, int] = {}
    for index in live:
        unique_id = items[index].unique_id
        if unique_id is not None and unique_id not in first_index:
            first_index[unique_id] = index
    return first_index


def _settle_claims(
    call: _Call, live: list[int], first_index: dict[str, int], inserted: set[str]
) -> list[int]:
    """After the claims: the events to store (no unique_id, or the first of one this call
    claimed), and the others answered as duplicates of the event stored first."""
    if len(inserted) == len(first_index) and len(first_index) == len(live):
        return live  # the common case: every event new, each with its own unique_id
    items, outcomes = call.items, call.outcomes
    raced = [u for u in first_index if u not in inserted]
    stored = _known_keys(call.session, call.org_id, raced, call.postgres) if raced else {}
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


def _resolve_profiles(call: _Call, live: list[int]) -> None:
    """Set each outcome's profile_id. Common shapes are resolved with a few bulk queries;
    anything that may create, merge or conflict goes through identity.resolve one by one."""
    session = call.session
    org_id = call.org_id
    items = call.items
    outcomes = call.outcomes
    postgres = call.postgres
    by_ref: dict[ProfileRef, list[int]] = defaultdict(list)
    for index in live:
        by_ref[items[index].profile].append(index)
    found = _bulk_lookup(session, org_id, list(by_ref), postgres)
    missing = [ref for ref in by_ref if ref not in found]
    if missing:
        # Committed on their own for a large batch only (see _bulk_create): a small one
        # commits soon anyway, and the extra transaction would cost it more round trips.
        separately = postgres and len(live) > SMALL_BATCH
        found.update(_bulk_create(session, org_id, missing, call.now, postgres, separately))
        # People a concurrent batch created first (their INSERT waited for it and did nothing):
        # committed by now, so a second lookup finds them.
        raced = [
            ref
            for ref in missing
            if ref not in found and (key := _single_key(ref)) is not None and key[0] in _CREATED
        ]
        if raced:
            found.update(_bulk_lookup(session, org_id, raced, postgres))
    profile_texts = call.profile_texts
    if len(found) == len(by_ref):
        for ref, indexes in by_ref.items():
            found_id = found[ref]
            text = str(found_id) if postgres else ""
            for index in indexes:
                outcomes[index].profile_id = found_id
                profile_texts[index] = text
        return
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
        text = str(profile_id) if postgres else ""
        for index in indexes:
            outcomes[index].profile_id = profile_id
            profile_texts[index] = text


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


_SINGLE_KINDS = ("profile_id", "email", "phone", "external_id", "anonymous_id")
_PROFILE_KEY_COLUMNS = (
    ("profile_id", "id", "uuid[]"),
    ("email", "email", "varchar[]"),
    ("phone", "phone", "varchar[]"),
    ("external_id", "external_id", "varchar[]"),
)
# Two ways to find people by one kind of key. `= ANY(list)` lets the planner read all of the
# organization's profiles once instead of probing the index per key, which it does for a
# thousand keys while it costs a probe as a disk read: with 51,000 people that read took 13 ms a
# batch, against 3 ms for the probes, and it grows with the table. The LATERAL form (as
# _KNOWN_KEYS_PG) is always a probe per key, through whichever index the planner picks; before
# profiles has statistics it may pick (org_id, created_at) and read every profile per key (half
# a second for 900 keys and 5,000 people). So: probes for many keys once statistics exist.
_LOOKUP_PG = {
    kind: (
        f"SELECT {column}, id FROM profiles WHERE org_id = %(org_id)s "  # noqa: S608 (fixed names)
        f"AND {column} = ANY(%(keys)s::{array}) AND merged_into_id IS NULL"
    )
    for kind, column, array in _PROFILE_KEY_COLUMNS
}
_PROBE_PG = {
    kind: (
        f"SELECT k.key, p.id FROM unnest(%(keys)s::{array}) AS k(key) "  # noqa: S608 (fixed names)
        f"CROSS JOIN LATERAL (SELECT id FROM profiles WHERE org_id = %(org_id)s "
        f"AND {column} = k.key AND merged_into_id IS NULL LIMIT 1) p"
    )
    for kind, column, array in _PROFILE_KEY_COLUMNS
}
# Keys of one kind above which a batch's people are probed (when statistics exist).
PROBE_KEYS = 64
_LOOKUP_ANONYMOUS_PG = (
    "SELECT a.anonymous_id, p.id FROM profile_anonymous_ids a "
    "JOIN profiles p ON p.id = a.profile_id "
    "WHERE a.org_id = %(org_id)s AND a.anonymous_id = ANY(%(keys)s::varchar[]) "
    "AND p.merged_into_id IS NULL"
)


def _single_key(ref: ProfileRef) -> tuple[str, Any] | None:
    """(kind, value) when the reference names the person by exactly one key."""
    found: tuple[str, Any] | None = None
    for kind, value in (
        ("profile_id", ref.profile_id),
        ("email", ref.email),
        ("phone", ref.phone),
        ("external_id", ref.external_id),
        ("anonymous_id", ref.anonymous_id),
    ):
        if value is not None:
            if found is not None:
                return None
            found = (kind, value)
    return found


def _bulk_lookup(
    session: Session, org_id: uuid.UUID, refs: list[ProfileRef], postgres: bool
) -> dict[ProfileRef, uuid.UUID]:
    """Profiles for references that name exactly one existing, unmerged profile by one key."""
    simple: dict[str, dict[Any, list[ProfileRef]]] = defaultdict(lambda: defaultdict(list))
    for ref in refs:
        key = _single_key(ref)
        if key is not None:
            simple[key[0]][key[1]].append(ref)
    result: dict[ProfileRef, uuid.UUID] = {}
    for kind in _SINGLE_KINDS:
        wanted = simple.get(kind)
        if not wanted:
            continue
        rows: Any
        if postgres:
            if kind == "anonymous_id":
                statement = _LOOKUP_ANONYMOUS_PG
            elif len(wanted) > PROBE_KEYS and first_statistics.known(session.get_bind()):
                statement = _PROBE_PG[kind]
            else:
                statement = _LOOKUP_PG[kind]
            keys = uuid_array_literal(wanted) if kind == "profile_id" else array_literal(wanted)
            rows = _pg_rows(session, statement, {"org_id": org_id, "keys": keys})
        elif kind == "anonymous_id":
            rows = session.execute(
                sa.select(AnonymousId.anonymous_id, Profile.id)
                .join(Profile, Profile.id == AnonymousId.profile_id)
                .where(
                    AnonymousId.org_id == org_id,
                    AnonymousId.anonymous_id.in_(list(wanted)),
                    Profile.merged_into_id.is_(None),
                )
            )
        else:
            column = Profile.id if kind == "profile_id" else getattr(Profile, kind)
            rows = session.execute(
                sa.select(column, Profile.id).where(
                    Profile.org_id == org_id,
                    column.in_(list(wanted)),
                    Profile.merged_into_id.is_(None),
                )
            )
        for key, profile_id in rows:
            for ref in wanted.get(key, ()):
                result[ref] = profile_id
    return result


# The kinds of single-key reference that ingestion creates people for in bulk.
_CREATED = ("email", "phone", "external_id")
_CREATE_PG = {
    kind: (
        f"INSERT INTO profiles (id, org_id, {kind}, properties, created_at, updated_at) "  # noqa: S608
        f"SELECT p.id, %(org_id)s, p.key, '{{}}'::jsonb, %(now)s, %(now)s "
        f"FROM unnest(%(ids)s::uuid[], %(keys)s::varchar[]) AS p(id, key) "
        f"ON CONFLICT DO NOTHING RETURNING {kind}, id"
    )
    for kind in _CREATED
}


def _bulk_create(
    session: Session,
    org_id: uuid.UUID,
    refs: list[ProfileRef],
    now: datetime,
    postgres: bool,
    separately: bool = False,
) -> dict[ProfileRef, uuid.UUID]:
    """Create, in one statement per identifier kind, the new people named by a single email,
    phone or external id (a batch's first events from new customers). A person created by a
    concurrent request meanwhile is simply looked up; every other shape goes through resolve.

    With `separately` (PostgreSQL), the new people are committed at once, in a short
    transaction of their own, before the batch's events: a concurrent batch naming the same new
    people then waits for that step rather than for this whole batch to commit (with two batches
    in flight, the first tenth of a run from an empty database spent a fifth of its time so). If
    the batch fails
    after, the people stay, as an identify would have made them; sent again, it finds them."""
    wanted_by_kind: dict[str, dict[str, ProfileRef]] = defaultdict(dict)
    for ref in refs:
        key = _single_key(ref)
        if key is not None and key[0] in _CREATED:
            wanted_by_kind[key[0]][key[1]] = ref
    if not wanted_by_kind:
        return {}
    new: dict[str, dict[str, uuid.UUID]] | None = None
    if separately:
        new = _create_committed(session, org_id, wanted_by_kind, now)
    if new is None:
        new = _create_people(session, org_id, wanted_by_kind, now, postgres)
    if postgres:
        first_statistics.created(session.get_bind(), sum(len(ids) for ids in new.values()))
    return {
        ref: new[kind][value]
        for kind, wanted in wanted_by_kind.items()
        for value, ref in wanted.items()
        if value in new[kind]
    }


# How long the committed creation of new people waits for a row lock before it gives up and
# creates them in the batch's own transaction instead. A concurrent batch's creation step holds
# its locks for milliseconds; only a lock held by the caller's own open transaction (a Segment
# batch that changed the same person earlier in the batch) lasts, and must not be waited for.
CREATE_LOCK_TIMEOUT = "1s"
_LOCK_NOT_AVAILABLE = "55P03"


def _create_committed(
    session: Session,
    org_id: uuid.UUID,
    wanted_by_kind: dict[str, dict[str, ProfileRef]],
    now: datetime,
) -> dict[str, dict[str, uuid.UUID]] | None:
    """_create_people in a transaction of its own, committed on return; None when that is not
    possible (the session is bound to a connection) or a lock could not be had."""
    bind = session.get_bind()
    if not isinstance(bind, sa.Engine):
        return None
    with bind.connect() as connection:
        try:
            with connection.begin():
                _pg_rows(connection, f"SET LOCAL lock_timeout = '{CREATE_LOCK_TIMEOUT}'")
                return _create_people(connection, org_id, wanted_by_kind, now, postgres=True)
        except sa.exc.OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            logger.info("creating people in the batch's transaction: %s", exc.orig)
            return None


_NEVER_ANALYZED = (
    "SELECT last_analyze IS NULL AND last_autoanalyze IS NULL "
    "FROM pg_stat_user_tables WHERE relid = 'profiles'::regclass"
)


class FirstStatistics:
    """Asks PostgreSQL for statistics on `profiles` once it has grown from empty, if autovacuum
    has not gathered any yet (it does so within a minute or so of the growth).

    Without statistics, the planner costs a look-up of people by email, phone or external id the
    same through the identifier's unique index and through (org_id, created_at), and took the
    latter: every look-up then read all of the organization's people (with 11,000 of them, a
    group of single events spent as much database time finding its people as storing its
    events). With any statistics it knows that one organization holds most people and that an
    identifier names one, and probes the unique index from then on, whatever the table's growth.
    This is PostgreSQL's advice after a bulk load; here the bulk load is ingestion's first
    minutes on a new install, or a large import."""

    # How often `known` asks again while there are no statistics (and at once after _analyze).
    RECHECK_SECONDS = 10.0

    def __init__(self, after: int = 1000) -> None:
        self.after = after
        self._created = 0
        self._done = False
        self._known = False
        self._checked_at = -self.RECHECK_SECONDS
        self._lock = threading.Lock()

    def known(self, bind: sa.Engine | sa.Connection) -> bool:
        """Whether profiles has been analyzed: asked at most every RECHECK_SECONDS, and not
        again once it has (statistics are never dropped)."""
        if self._known:
            return True
        now = time.monotonic()
        if now - self._checked_at < self.RECHECK_SECONDS:
            return False
        self._checked_at = now
        engine = bind if isinstance(bind, sa.Engine) else bind.engine
        try:
            with engine.connect() as connection:
                self._known = not connection.exec_driver_sql(_NEVER_ANALYZED).scalar()
        except sa.exc.DBAPIError as exc:
            logger.warning("could not tell whether profiles has statistics: %s", exc)
        return self._known

    def created(self, bind: sa.Engine | sa.Connection, count: int) -> None:
        """Note `count` new people; past `after` in this process, check once (in a thread of
        its own, so that no request waits for it)."""
        if self._done or not count:
            return
        with self._lock:
            self._created += count
            if self._done or self._created < self.after:
                return
            self._done = True
        engine = bind if isinstance(bind, sa.Engine) else bind.engine
        threading.Thread(target=self._analyze_then_recheck, args=(engine,), daemon=True).start()

    def _analyze_then_recheck(self, engine: sa.Engine) -> None:
        self._analyze(engine)
        self._checked_at = -self.RECHECK_SECONDS  # `known` asks again at its next call

    @staticmethod
    def _analyze(engine: sa.Engine) -> None:
        try:
            with engine.connect() as connection:
                never = connection.exec_driver_sql(_NEVER_ANALYZED).scalar()
                if never:
                    connection.exec_driver_sql("ANALYZE profiles")
                connection.commit()
        except sa.exc.DBAPIError as exc:  # not the owner, or the database went away: no harm
            logger.warning("could not analyze profiles: %s", exc)


first_statistics = FirstStatistics()


def _create_people(
    executor: Executor,
    org_id: uuid.UUID,
    wanted_by_kind: dict[str, dict[str, ProfileRef]],
    now: datetime,
    postgres: bool,
) -> dict[str, dict[str, uuid.UUID]]:
    """Insert the people not there yet, by kind of identifier; their ids by identifier value,
    and one `created` change record each."""
    new: dict[str, dict[str, uuid.UUID]] = {}
    for kind in _CREATED:
        wanted = wanted_by_kind.get(kind)
        if not wanted:
            continue
        values = sorted(wanted)  # a fixed lock order, as in _resolve_profiles
        if postgres:
            new[kind] = dict(
                _pg_rows(
                    executor,
                    _CREATE_PG[kind],
                    {
                        "org_id": org_id,
                        "now": now,
                        "ids": uuid_array_literal(new_ids(len(values))),
                        "keys": array_literal(values),
                    },
                )
            )
        else:
            column = getattr(Profile, kind)
            rows = [
                {
                    "id": profile_id,
                    "org_id": org_id,
                    kind: value,
                    "properties": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for value, profile_id in zip(values, new_ids(len(values)), strict=True)
            ]
            new[kind] = dict(
                executor.execute(
                    sqlite.insert(Profile).on_conflict_do_nothing().returning(column, Profile.id),
                    rows,
                ).all()
            )
    _record_changes(
        executor,
        [(org_id, pid, "created", None, now) for ids in new.values() for pid in ids.values()],
        postgres,
    )
    return new


_CATALOG_PG = (
    "INSERT INTO metrics (id, org_id, name, shard, event_count, first_seen_at, last_seen_at) "  # noqa: S608
    "SELECT m.id, %(org_id)s, m.name, %(shard)s, m.event_count, m.first_seen_at, m.last_seen_at "
    "FROM unnest(%(ids)s::uuid[], %(names)s::varchar[], %(counts)s::bigint[], "
    "%(firsts)s::timestamptz[], %(lasts)s::timestamptz[]) "
    f"AS m(id, name, event_count, first_seen_at, last_seen_at) {_CATALOG_MERGE}"
)


def _update_catalog(
    session: Session, org_id: uuid.UUID, seen: list[tuple[str, datetime]], postgres: bool
) -> None:
    """Add this batch's counts to the catalog: one statement for every name in the batch."""
    stats: dict[str, list[Any]] = {}
    for name, when in seen:
        if name in stats:
            entry = stats[name]
            entry[0] += 1
            if when < entry[1]:
                entry[1] = when
            if when > entry[2]:
                entry[2] = when
        else:
            stats[name] = [1, when, when]
    shard = random.randrange(METRIC_SHARDS)  # noqa: S311 (spreading locks, not a secret)
    # Sorted, so that concurrent batches lock catalog rows in the same order and never deadlock
    # (the rows of one INSERT are inserted, and locked, in the order they are given).
    names = sorted(stats)
    if postgres:
        _pg_rows(
            session,
            _CATALOG_PG,
            {
                "org_id": org_id,
                "shard": shard,
                "ids": new_ids(len(names)),
                "names": names,
                "counts": [stats[name][0] for name in names],
                "firsts": [stats[name][1] for name in names],
                "lasts": [stats[name][2] for name in names],
            },
        )
        return
    ids = new_ids(len(names))
    statement = sqlite.insert(Metric).values(
        [
            {
                "id": ids[position],
                "org_id": org_id,
                "name": name,
                "shard": shard,
                "event_count": stats[name][0],
                "first_seen_at": stats[name][1],
                "last_seen_at": stats[name][2],
            }
            for position, name in enumerate(names)
        ]
    )
    excluded = statement.excluded
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[Metric.org_id, Metric.name, Metric.shard],
            set_={
                "event_count": Metric.event_count + excluded.event_count,
                "first_seen_at": sa.func.min(Metric.first_seen_at, excluded.first_seen_at),
                "last_seen_at": sa.func.max(Metric.last_seen_at, excluded.last_seen_at),
            },
        )
    )


def track_one(
    session: Session, org_id: uuid.UUID, item: EventInput, *, source: str = "api"
) -> Outcome:
    """Store one event, raising the error instead of reporting it."""
    (outcome,) = ingest(session, org_id, [item], source=source)
    raise_error(outcome)
    return outcome


def raise_error(outcome: Outcome) -> None:
    """Raise an outcome's error, as a single-event call answers it."""
    if outcome.error is not None:
        error = outcome.error
        raise outcome.error_type(f"{error.field}: {error.reason}", [error])


# --- Grouped single events ---------------------------------------------------------------------


# How long a group stays open after its first event for others to join. A millisecond: under load
# the groups grow several times (each commit costs about as much CPU as a few events) and answers
# come sooner, not later; a lone event waits that much longer.
GROUP_GATHER_SECONDS = 0.001
# Threads storing groups of single events, per process.
GROUP_COMMIT_THREADS = 2


@dataclass(slots=True)
class _Pending:
    org_id: uuid.UUID
    item: EventInput
    source: str
    future: Future[Outcome]


class GroupCommit:
    """Stores single events from concurrent requests together: one transaction, through `ingest`,
    for every event that arrived while the previous group was being stored (up to `max_items`).

    Each request waits for its own outcome, which is set only after the group's commit, so a
    request never answers for an event that is not stored. Each event keeps its own outcome (a
    bad event is reported to its request alone) and its own change record. If the group's
    transaction fails as a whole, every event is tried again on its own, so one event that makes
    the database refuse the transaction cannot fail the others.

    `threads` threads a process store the groups, so that one group is built while another
    waits for its commit to reach the disk. A group takes every event queued while the previous
    ones were stored, and the events that arrive within `GROUP_GATHER_SECONDS` of its first one.
    Callers wait on a `concurrent.futures.Future` (from a thread) or
    `await asyncio.wrap_future(...)` (on the event loop).
    """

    def __init__(self, max_items: int = 1000, threads: int = GROUP_COMMIT_THREADS) -> None:
        self.max_items = max_items
        self.threads = threads
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._pid = 0

    def submit(
        self, org_id: uuid.UUID, item: EventInput, *, source: str = "api"
    ) -> Future[Outcome]:
        """Queue one event; the future holds its outcome once the event is committed."""
        if self._pid != os.getpid() or not all(t.is_alive() for t in self._threads):
            self._start()
        future: Future[Outcome] = Future()
        self._queue.put(_Pending(org_id, item, source, future))
        return future

    def _start(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # a forked child starts with no backlog and no threads
                self._queue = queue.SimpleQueue()
                self._threads = []
                self._pid = os.getpid()
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < self.threads:
                thread = threading.Thread(
                    target=self._run, name="herald-event-group-commit", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            deadline = time.monotonic() + GROUP_GATHER_SECONDS
            while len(group) < self.max_items:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        group.append(self._queue.get(timeout=remaining))
                    except queue.Empty:
                        break
            # A request that gave up before its event was taken (the client went away) is not
            # stored; one taken is stored and answered even if nobody reads the answer.
            group = [p for p in group if p.future.set_running_or_notify_cancel()]
            try:
                self.store(group)
            except BaseException as exc:  # the thread must outlive any failure
                for pending in group:
                    if not pending.future.done():
                        pending.future.set_exception(exc)

    def store(self, group: list[_Pending]) -> None:
        """Store a group in one transaction and set each future after the commit; if that
        transaction fails, store each event on its own."""
        if not group:
            return
        try:
            outcomes = _store_group(group)
        except Exception as exc:
            if len(group) == 1:
                group[0].future.set_exception(exc)
                return
            logger.warning(
                "a group of %d events failed together (%r); storing them one by one",
                len(group),
                exc,
            )
            for pending in group:
                self.store([pending])
            return
        for pending, outcome in zip(group, outcomes, strict=True):
            pending.future.set_result(outcome)


def _store_group(group: list[_Pending]) -> list[Outcome]:
    """Every event of the group, one `ingest` call per organization and source, one commit. Each
    event counts as its own request for the change records."""
    by_call: dict[tuple[uuid.UUID, str], list[int]] = defaultdict(list)
    for position, pending in enumerate(group):
        by_call[pending.org_id, pending.source].append(position)
    outcomes: list[Outcome | None] = [None] * len(group)
    with get_database().transaction() as session:
        for (org_id, source), positions in by_call.items():
            stored = ingest(
                session,
                org_id,
                [group[p].item for p in positions],
                source=source,
                requests=range(len(positions)),
            )
            for position, outcome in zip(positions, stored, strict=True):
                outcomes[position] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


single_events = GroupCommit()


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
    return newest_first_page(session, query, Event.time, Event.id, limit=limit, cursor=cursor)
