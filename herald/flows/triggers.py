"""Triggers: who enters which flow, from the hand-offs that already exist.

- Metric triggers and waits for an event: ingestion records a `profile_changes` row per person
  and request, naming the events; the change processor (a pump in every worker, within a second)
  calls `on_profile_changes`, which reads those events (each is keyed by its id, so a retried
  event enrols once) and enrols, or wakes the enrolments waiting for them. Events dated more
  than EVENT_HORIZON before they were stored (a history import) do not trigger flows.
- Segment triggers and waits for a segment: `scan_segments` (a pump) reads `segment_history`
  after each flow's cursor, whatever wrote it (the change processor or a full recompute).
- Date triggers: `scan_dates` (every minute) enrols the people whose date, plus the offset, at
  the time of day in their time zone (else the organization's), fell since the last scan.
- API triggers: `herald.flows.enrolments.enrol_by_api`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.campaigns.sendtime import resolve_timezone
from herald.db import Database, json_text, month_day, utcnow
from herald.flows import enrolments
from herald.flows.definition import (
    DateTrigger,
    FlowDefinition,
    MetricTrigger,
    WaitStep,
    parse_time_of_day,
)
from herald.flows.engine import ENROLMENT_COLUMNS, Batch, Work, load, run_locked
from herald.flows.enrolments import LIVE, WAITING, Candidate, enrol
from herald.flows.steps import wait_started
from herald.models import (
    Event,
    Flow,
    FlowEnrolment,
    Organization,
    Profile,
    ProfileChange,
    SegmentHistory,
    SegmentMember,
)
from herald.segments.compiler import compare_json

# Events older than this when they are stored do not trigger flows (imports of history).
EVENT_HORIZON = timedelta(days=1)
# Segment history rows, and date candidates, enrolled per statement.
SCAN_BATCH = 1000


def live_flows(
    session: Session, trigger_types: Iterable[str], org_id: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, FlowDefinition]]:
    """Live flows (of one organization, or all) whose published trigger is of these types, as
    (flow id, published definition). Only ids are read: versions are parsed once a process."""
    query = sa.select(Flow.id, Flow.published_version).where(
        Flow.status == LIVE, Flow.published_version.is_not(None)
    )
    if org_id is not None:
        query = query.where(Flow.org_id == org_id)
    wanted = set(trigger_types)
    found = []
    for flow_id, version in session.execute(query):
        assert version is not None
        definition = enrolments.published(session, flow_id, version)
        if definition.trigger.type in wanted:
            found.append((flow_id, definition))
    return found


def every_live_flow(session: Session) -> list[tuple[uuid.UUID, FlowDefinition]]:
    return live_flows(
        session, ("metric", "segment_entered", "segment_exited", "date_property", "api")
    )


# --- Events --------------------------------------------------------------------------------------


def on_profile_changes(
    session: Session, org_id: uuid.UUID, changes: Sequence[ProfileChange]
) -> None:
    """The change processor's hand-off: enrol from the events these changes name, and wake the
    enrolments waiting for them. Runs in the change processor's transaction."""
    names: dict[uuid.UUID, set[str]] = defaultdict(set)
    stamps: list[datetime] = []
    for change in changes:
        if change.reason == "event" and change.event_names:
            names[change.profile_id].update(change.event_names)
            stamps.append(change.created_at)
    if not names:
        return
    # The events stored by the requests that recorded these changes (same stamp; later ones may
    # come along, which their trigger keys make harmless).
    since = min(stamps)
    now = utcnow()
    every_name = set().union(*names.values())
    for flow_id, definition in live_flows(session, ("metric",), org_id):
        trigger = definition.trigger
        if not isinstance(trigger, MetricTrigger) or trigger.metric not in every_name:
            continue
        people = [p for p, n in names.items() if trigger.metric in n]
        rows = _events(session, org_id, people, trigger.metric, trigger.filters, since, now)
        candidates = [
            Candidate(
                row.profile_id,
                f"event:{row.id}",
                {
                    "type": "metric",
                    "event_id": str(row.id),
                    "metric": row.name,
                    "time": row.time.isoformat(),
                    "value": row.value,
                    "properties": row.properties or {},
                },
            )
            for row in sorted(rows, key=lambda r: r.time)
        ]
        if candidates:
            enrol(session, flow_id, candidates, now)
    _wake_event_waits(session, org_id, names, since, now)


def _events(
    session: Session,
    org_id: uuid.UUID,
    people: Sequence[uuid.UUID],
    metric: str,
    filters: Sequence[Any],
    received_since: datetime,
    now: datetime,
    happened_since: datetime | None = None,
) -> list[Any]:
    oldest = now - EVENT_HORIZON
    if happened_since is not None:
        oldest = max(oldest, happened_since)
    return list(
        session.execute(
            sa.select(
                Event.id,
                Event.profile_id,
                Event.name,
                Event.time,
                Event.value,
                Event.properties,
            ).where(
                Event.org_id == org_id,
                Event.profile_id.in_(list(people)),
                Event.name == metric,
                Event.time >= oldest,
                Event.received_at >= received_since,
                *(compare_json(f, json_text(Event.properties, f.property), now) for f in filters),
            )
        )
    )


def _wake_event_waits(
    session: Session,
    org_id: uuid.UUID,
    names: dict[uuid.UUID, set[str]],
    since: datetime,
    now: datetime,
) -> None:
    rows = session.execute(
        sa.select(*ENROLMENT_COLUMNS).where(
            FlowEnrolment.org_id == org_id,
            FlowEnrolment.profile_id.in_(list(names)),
            FlowEnrolment.status == WAITING,
        )
    ).all()
    if not rows:
        return
    groups: dict[tuple[Any, ...], list[Work]] = defaultdict(list)
    for work in load(session, [Work(*row) for row in rows]):
        current = work.current()
        if (
            current.type == "wait"
            and current.wait_for.type == "event"
            and current.wait_for.metric in names[work.profile_id]
        ):
            groups[(work.flow_id, work.version, work.step)].append(work)
    woken: dict[uuid.UUID, str] = {}
    for group in groups.values():
        step: WaitStep = group[0].current()
        assert step.wait_for.type == "event"
        events = _events(
            session,
            org_id,
            sorted({w.profile_id for w in group}),
            step.wait_for.metric,
            step.wait_for.filters,
            since,
            now,
            happened_since=min(wait_started(w) for w in group),
        )
        for work in group:
            started = wait_started(work)
            for event in sorted(events, key=lambda e: e.time):
                if event.profile_id == work.profile_id and event.time >= started:
                    woken[work.id] = str(event.id)
                    break
    if woken:
        _advance_waiting(session, woken, {w.id: w.step for g in groups.values() for w in g}, now)


def _advance_waiting(
    session: Session, woken: dict[uuid.UUID, str], steps: dict[uuid.UUID, str | None], now: datetime
) -> None:
    """The awaited thing happened: `yes`, for those still waiting on the same step."""

    def act(batch: Batch, works: list[Work]) -> None:
        for work in works:
            if work.status == WAITING and work.step == steps.get(work.id):
                batch.advance(work, "yes", detail={"because": woken[work.id]})

    run_locked(session, list(woken), act, now=now)


# --- Segments ------------------------------------------------------------------------------------


def scan_segments(database: Database) -> int:
    """Enrol from segment history after each segment-triggered flow's cursor, and move on the
    enrolments waiting for a segment that their profile is now in. How many rows it handled."""
    handled = 0
    with database.transaction() as session:
        flows = [(f, d) for f, d in every_live_flow(session) if _reads_segments(d)]
    for flow_id, definition in flows:
        with database.transaction() as session:
            if definition.trigger.type in ("segment_entered", "segment_exited"):
                handled += _segment_trigger(session, flow_id, definition)
            handled += _segment_waits(session, flow_id, definition)
    return handled


def _reads_segments(definition: FlowDefinition) -> bool:
    return definition.trigger.type in ("segment_entered", "segment_exited") or any(
        step.type == "wait" and step.wait_for.type == "segment_entered" for step in definition.steps
    )


def _segment_trigger(session: Session, flow_id: uuid.UUID, definition: FlowDefinition) -> int:
    # Workers take turns on a flow: one holds it, the others pass.
    flow = session.scalar(
        sa.select(Flow)
        .where(Flow.id == flow_id, Flow.status == LIVE)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if flow is None or flow.published_version is None:
        return 0
    trigger = definition.trigger
    segment_id: uuid.UUID = trigger.segment_id  # type: ignore[union-attr]
    if flow.trigger_cursor is None:
        flow.trigger_cursor = session.scalar(
            sa.select(sa.func.coalesce(sa.func.max(SegmentHistory.id), 0)).where(
                SegmentHistory.segment_id == segment_id
            )
        )
        return 0
    rows = session.execute(
        sa.select(SegmentHistory.id, SegmentHistory.profile_id, SegmentHistory.at)
        .where(
            SegmentHistory.segment_id == segment_id,
            SegmentHistory.org_id == flow.org_id,
            SegmentHistory.entered.is_(trigger.type == "segment_entered"),
            SegmentHistory.id > flow.trigger_cursor,
        )
        .order_by(SegmentHistory.id)
        .limit(SCAN_BATCH)
    ).all()
    if not rows:
        return 0
    enrol(
        session,
        flow.id,
        [
            Candidate(
                profile_id,
                f"segment:{history_id}",
                {"type": trigger.type, "segment_id": str(segment_id), "time": at.isoformat()},
            )
            for history_id, profile_id, at in rows
        ],
    )
    flow.trigger_cursor = rows[-1][0]
    return len(rows)


def _segment_waits(session: Session, flow_id: uuid.UUID, definition: FlowDefinition) -> int:
    handled = 0
    for step in definition.steps:
        if step.type != "wait" or step.wait_for.type != "segment_entered":
            continue
        ids = list(
            session.scalars(
                sa.select(FlowEnrolment.id)
                .join(
                    SegmentMember,
                    sa.and_(
                        SegmentMember.segment_id == step.wait_for.segment_id,
                        SegmentMember.profile_id == FlowEnrolment.profile_id,
                    ),
                )
                .where(
                    FlowEnrolment.flow_id == flow_id,
                    FlowEnrolment.status == WAITING,
                    FlowEnrolment.current_step == step.id,
                )
                .limit(SCAN_BATCH)
            )
        )
        if ids:
            segment = str(step.wait_for.segment_id)
            _advance_waiting(
                session, dict.fromkeys(ids, segment), dict.fromkeys(ids, step.id), utcnow()
            )
            handled += len(ids)
    return handled


# --- Dates ---------------------------------------------------------------------------------------


def scan_dates(database: Database, now: datetime | None = None) -> int:
    """Enrol everyone whose date trigger moment fell since each date flow's last scan."""
    now = now or utcnow()
    enrolled = 0
    with database.transaction() as session:
        flows = live_flows(session, ("date_property",))
    for flow_id, definition in flows:
        with database.transaction() as session:
            enrolled += _scan_date_flow(session, flow_id, definition, now)
    return enrolled


def occurrence_moment(trigger: DateTrigger, occurrence: date, zone: Any) -> datetime:
    """When a date trigger fires for an occurrence of the date: offset days later (or earlier),
    at the time of day in the zone."""
    day = occurrence + timedelta(days=trigger.offset_days)
    return datetime.combine(day, parse_time_of_day(trigger.time_of_day), tzinfo=zone).astimezone(
        UTC
    )


def _anniversary(value: date, year: int) -> date:
    try:
        return value.replace(year=year)
    except ValueError:  # 29 February in a year without one
        return date(year, 2, 28)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _scan_date_flow(
    session: Session, flow_id: uuid.UUID, definition: FlowDefinition, now: datetime
) -> int:
    flow = session.scalar(
        sa.select(Flow)
        .where(Flow.id == flow_id, Flow.status == LIVE)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if flow is None:
        return 0
    trigger = definition.trigger
    assert isinstance(trigger, DateTrigger)
    start = flow.date_scanned_until or now
    if start >= now:
        flow.date_scanned_until = start
        return 0
    # Local fire days fall within a day of the UTC days scanned; the dates they come from are
    # `offset_days` earlier.
    days = [
        start.date() + timedelta(days=n) for n in range(-1, (now.date() - start.date()).days + 2)
    ]
    sources = [d - timedelta(days=trigger.offset_days) for d in days]
    value: Any
    matches: sa.ColumnElement[bool]
    if trigger.field is not None:
        value = getattr(Profile, trigger.field)
        if trigger.recurrence == "yearly":
            matches = month_day(value).in_({d.strftime("%m-%d") for d in sources})
        else:
            low = datetime.combine(min(sources), datetime.min.time(), tzinfo=UTC)
            high = datetime.combine(max(sources), datetime.min.time(), tzinfo=UTC)
            matches = sa.and_(value >= low, value < high + timedelta(days=1))
    else:
        assert trigger.property is not None
        value = json_text(Profile.properties, trigger.property)
        if trigger.recurrence == "yearly":
            matches = sa.func.substr(value, 6, 5).in_({d.strftime("%m-%d") for d in sources})
        else:
            matches = sa.func.substr(value, 1, 10).in_({d.isoformat() for d in sources})
    org_zone = session.scalar(
        sa.select(Organization.timezone).where(Organization.id == flow.org_id)
    )
    rows = session.execute(
        sa.select(Profile.id, value, Profile.timezone).where(
            Profile.org_id == flow.org_id, Profile.merged_into_id.is_(None), matches
        )
    ).all()
    candidates: list[Candidate] = []
    for profile_id, raw, zone_name in rows:
        found = _as_date(raw)
        if found is None:
            continue
        zone = resolve_timezone(zone_name, org_zone)
        if trigger.recurrence == "yearly":
            occurrences = {_anniversary(found, d.year) for d in sources}
        else:
            occurrences = {found}
        for occurrence in sorted(occurrences):
            moment = occurrence_moment(trigger, occurrence, zone)
            if start < moment <= now:
                candidates.append(
                    Candidate(
                        profile_id,
                        f"date:{profile_id}:{occurrence.isoformat()}",
                        {
                            "type": "date_property",
                            "date": occurrence.isoformat(),
                            "time": moment.isoformat(),
                        },
                    )
                )
    enrolled = 0
    for first in range(0, len(candidates), SCAN_BATCH):
        outcomes = enrol(session, flow.id, candidates[first : first + SCAN_BATCH], now)
        enrolled += sum(1 for o in outcomes if o.created)
    flow.date_scanned_until = now
    return enrolled
