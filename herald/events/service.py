"""Event ingestion and the event catalog. No HTTP here.

`ingest` stores a batch in one transaction: de-duplicate by client id, resolve every profile
(in bulk for the common cases), insert the events, update the catalog of event names, and append
one change record per touched profile for the segment and flow workers. It runs no segment or flow
logic itself. Its steps live by concern in `herald.events`: `claims` (unique ids), `people`
(profile resolution), `storing` (events, catalog, change records); `grouped` stores single
events in groups.

On PostgreSQL the bulk statements take whole columns as array parameters (`= ANY(...)`,
`unnest(...)`) and the events and change records go in with COPY: a statement's text and its
parameter count stay the same whatever the batch size, so nothing is re-parsed or re-planned per
row. Elsewhere the same steps run as portable SQLAlchemy statements."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.analytics import marks
from herald.db import new_ids, utcnow
from herald.events.batch import EventInput, Outcome, _Call
from herald.events.claims import (
    _claim_unique_ids,
    _first_claims,
    _recognize_failed_retries,
    _settle_claims,
)
from herald.events.people import _resolve_profiles
from herald.events.storing import (
    SMALL_BATCH,
    _normalize_phones,
    _record_event_changes,
    _store_events,
    _store_small,
    _update_catalog,
)
from herald.models import Event, Metric
from herald.observability.metrics import EVENTS_INGESTED
from herald.pagination import newest_first_page
from herald.tenancy.scope import scoped


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
