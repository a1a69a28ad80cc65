"""Storing a batch's events: the events themselves (one statement for a small batch, COPY for a
large one on PostgreSQL), the catalog of event names with their counts, and the change records
for the segment and flow workers."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from herald.db import new_ids
from herald.errors import FieldError
from herald.events.batch import (
    ChangeRow,
    EventInput,
    Executor,
    Outcome,
    _Call,
    _driver_cursor,
    _pg_rows,
)
from herald.events.pgtext import (
    NULL,
    array_literal,
    copy_json,
    copy_optional,
    copy_text,
    json_text,
    uuid_array_literal,
)
from herald.models import Event, Metric, ProfileChange
from herald.models.event import METRIC_SHARDS
from herald.profiles.identity import ProfileRef
from herald.tenancy.service import default_region
from herald.validation import normalize_phone

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
