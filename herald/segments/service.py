"""Segments: saving definitions, computing membership in full and for changed profiles, and
reading members, sizes and growth. No HTTP here.

Membership writes for one segment are serialized by a lock on its row (FOR UPDATE on
PostgreSQL; SQLite's single writer does the same), so a full recompute and the change processor
never interleave their diffs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from herald.db import Database, utcnow
from herald.errors import Conflict, FieldError, InvalidInput, validation_fields
from herald.jobs.service import JobFailed, JobRun, create_job, job_handler
from herald.models import (
    Event,
    Job,
    Metric,
    Profile,
    ProfileChange,
    Segment,
    SegmentHistory,
    SegmentMember,
)
from herald.profiles.identity import on_erase
from herald.segments import definition as lang
from herald.segments.compiler import SegmentLoader, check_references, members_query
from herald.segments.definition import Definition, counts_from_flow_start
from herald.settings import get_settings
from herald.tenancy.scope import check_name_free, get_scoped, scoped

logger = logging.getLogger(__name__)

RECOMPUTE_JOB = "segment.recompute"
# Profiles evaluated per query by the change processor (the ids go into each event subquery).
CHANGE_BATCH = 1000
# Change rows taken per transaction.
CHANGES_PER_RUN = 5000
MAX_SEGMENTS = 1000


# --- Definitions ---------------------------------------------------------------------------------


def parse_definition(raw: Any) -> Definition:
    """A stored or submitted definition, or InvalidInput naming the field at fault."""
    try:
        definition = Definition.model_validate(raw)
    except ValidationError as exc:
        fields = [
            FieldError(f"definition.{e.field}" if e.field else "definition", e.reason)
            for e in validation_fields(exc.errors())
        ]
        raise InvalidInput("the segment definition is not valid", fields) from exc
    if counts_from_flow_start(definition):
        raise InvalidInput.for_field(
            "definition",
            "the window since_flow_start belongs to flows: a segment has no flow start",
        )
    return definition


@lru_cache(maxsize=1024)
def _parse_stored(canonical: str) -> Definition:
    return Definition.model_validate_json(canonical)


def stored_definition(raw: dict[str, Any]) -> Definition:
    """A saved definition, parsed once per distinct content (definitions are immutable)."""
    return _parse_stored(json.dumps(raw, sort_keys=True))


def definition_loader(session: Session, org_id: uuid.UUID) -> SegmentLoader:
    cache: dict[uuid.UUID, Definition | None] = {}

    def load(segment_id: uuid.UUID) -> Definition | None:
        if segment_id not in cache:
            raw = session.scalar(
                sa.select(Segment.definition).where(
                    Segment.org_id == org_id, Segment.id == segment_id
                )
            )
            cache[segment_id] = None if raw is None else stored_definition(raw)
        return cache[segment_id]

    return load


@dataclass
class Derived:
    """What a definition depends on, other segments' definitions included."""

    metrics: set[str]
    references: set[uuid.UUID]
    uses_profile_data: bool
    time_relative: bool


def derive(definition: Definition, load: SegmentLoader) -> Derived:
    derived = Derived(
        metrics=lang.metric_names(definition),
        references=lang.referenced_segments(definition),
        uses_profile_data=lang.uses_profile_data(definition),
        time_relative=lang.is_time_relative(definition),
    )
    seen: set[uuid.UUID] = set()
    pending = list(derived.references)
    while pending:
        segment_id = pending.pop()
        if segment_id in seen:
            continue
        seen.add(segment_id)
        included = load(segment_id)
        if included is None:
            continue
        derived.metrics |= lang.metric_names(included)
        derived.uses_profile_data |= lang.uses_profile_data(included)
        derived.time_relative |= lang.is_time_relative(included)
        pending.extend(lang.referenced_segments(included))
    return derived


def _apply_derived(segment: Segment, derived: Derived) -> None:
    segment.metrics = sorted(derived.metrics)
    segment.referenced_segments = sorted(str(s) for s in derived.references)
    segment.uses_profile_data = derived.uses_profile_data
    segment.time_relative = derived.time_relative


# --- CRUD ----------------------------------------------------------------------------------------


def get_segment(session: Session, org_id: uuid.UUID, segment_id: uuid.UUID) -> Segment:
    return get_scoped(session, Segment, org_id, segment_id)


NAME_TAKEN = "another segment already has this name"


def list_segments(session: Session, org_id: uuid.UUID) -> list[Segment]:
    return list(session.scalars(scoped(Segment, org_id).order_by(Segment.name).limit(MAX_SEGMENTS)))


def create_segment(
    session: Session,
    org_id: uuid.UUID,
    *,
    name: str,
    description: str | None,
    definition: Any,
) -> Segment:
    parsed = parse_definition(definition)
    check_name_free(session, Segment, org_id, name, None, NAME_TAKEN)
    load = definition_loader(session, org_id)
    check_references(parsed, None, load)
    segment = Segment(
        org_id=org_id,
        name=name,
        description=description,
        definition=parsed.model_dump(mode="json"),
    )
    _apply_derived(segment, derive(parsed, load))
    session.add(segment)
    session.flush()
    request_recompute(session, segment)
    return segment


def update_segment(
    session: Session, org_id: uuid.UUID, segment_id: uuid.UUID, changes: dict[str, Any]
) -> Segment:
    segment = get_segment(session, org_id, segment_id)
    if "name" in changes:
        check_name_free(session, Segment, org_id, changes["name"], segment.id, NAME_TAKEN)
        segment.name = changes["name"]
    if "description" in changes:
        segment.description = changes["description"]
    if changes.get("definition") is not None:
        parsed = parse_definition(changes["definition"])
        load = definition_loader(session, org_id)
        check_references(parsed, segment.id, load)
        segment.definition = parsed.model_dump(mode="json")
        _apply_derived(segment, derive(parsed, load))
        session.flush()
        request_recompute(session, segment, if_idle=True)
        # Segments that include this one now mean something else too. (`load` never read this
        # segment: a definition naming itself is refused before loading.)
        for dependant in _dependants(session, org_id, segment.id):
            _apply_derived(dependant, derive(stored_definition(dependant.definition), load))
            request_recompute(session, dependant, if_idle=True)
    session.flush()
    return segment


def _dependants(session: Session, org_id: uuid.UUID, segment_id: uuid.UUID) -> list[Segment]:
    """Segments that include this one, directly or through others."""
    segments = list_segments(session, org_id)
    found: dict[uuid.UUID, Segment] = {}
    targets = {str(segment_id)}
    while True:
        more = [
            s
            for s in segments
            if s.id not in found and s.id != segment_id and targets & set(s.referenced_segments)
        ]
        if not more:
            return list(found.values())
        for s in more:
            found[s.id] = s
            targets.add(str(s.id))


def delete_segment(session: Session, org_id: uuid.UUID, segment_id: uuid.UUID) -> None:
    segment = get_segment(session, org_id, segment_id)
    users = [
        s.name for s in list_segments(session, org_id) if str(segment.id) in s.referenced_segments
    ]
    if users:
        raise Conflict(
            f"segments {', '.join(sorted(users))} include this segment; change them first"
        )
    session.delete(segment)
    session.flush()


# --- Reading -------------------------------------------------------------------------------------


def estimate(session: Session, org_id: uuid.UUID, definition: Any) -> int:
    """How many profiles a definition matches now, without saving it."""
    parsed = parse_definition(definition)
    load = definition_loader(session, org_id)
    check_references(parsed, None, load)
    _large_query_memory(session)
    query = members_query(parsed, org_id, utcnow(), load).subquery()
    return int(session.scalar(sa.select(sa.func.count()).select_from(query)) or 0)


def profile_segments(
    session: Session, org_id: uuid.UUID, profile_id: uuid.UUID
) -> list[tuple[Segment, datetime]]:
    rows = session.execute(
        sa.select(Segment, SegmentMember.entered_at)
        .join(SegmentMember, SegmentMember.segment_id == Segment.id)
        .where(Segment.org_id == org_id, SegmentMember.profile_id == profile_id)
        .order_by(Segment.name)
    )
    return [(segment, entered_at) for segment, entered_at in rows]


def growth(
    session: Session, org_id: uuid.UUID, segment_id: uuid.UUID, days: int, today: date | None = None
) -> list[tuple[date, int, int, int]]:
    """(day, members at the end of the day, entries, exits) for the last `days` UTC days."""
    segment = get_segment(session, org_id, segment_id)
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    change = sa.case((SegmentHistory.entered, 1), else_=-1)
    before = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(change), 0)).where(
            SegmentHistory.segment_id == segment.id, SegmentHistory.at < start
        )
    )
    entries: dict[date, int] = defaultdict(int)
    exits: dict[date, int] = defaultdict(int)
    rows = session.execute(
        sa.select(SegmentHistory.at, SegmentHistory.entered).where(
            SegmentHistory.segment_id == segment.id, SegmentHistory.at >= start
        )
    )
    # Counted in Python: a day's bucket is portable this way and the rows are ids and times only.
    for at, entered in rows:
        (entries if entered else exits)[at.astimezone(UTC).date()] += 1
    series = []
    running = int(before or 0)
    for offset in range(days):
        day = first + timedelta(days=offset)
        running += entries[day] - exits[day]
        series.append((day, running, entries[day], exits[day]))
    return series


# --- Full computation ----------------------------------------------------------------------------


def request_recompute(session: Session, segment: Segment, *, if_idle: bool = False) -> Job | None:
    """Queue a full recompute as a job row. A second one for the same segment while one is
    pending or running is a Conflict (or, with `if_idle`, quietly not queued)."""
    try:
        return create_job(
            session,
            segment.org_id,
            RECOMPUTE_JOB,
            {"segment_id": str(segment.id)},
            dedupe_key=f"segment:{segment.id}",
            progress_total=4,
        )
    except Conflict:
        if if_idle:
            return None
        raise Conflict("a recompute of this segment is already pending or running") from None


def _large_query_memory(session: Session) -> None:
    """Give this transaction's big grouping queries memory to work in (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            sa.select(sa.func.set_config("work_mem", get_settings().segment_work_mem, True))
        )


def _lock(session: Session, segment_ids: Sequence[uuid.UUID]) -> list[Segment]:
    """Take the segments' rows for writing membership, in id order (no deadlocks)."""
    query = sa.select(Segment).where(Segment.id.in_(sorted(segment_ids))).order_by(Segment.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return list(session.scalars(query.execution_options(populate_existing=True)))


_scratch_metadata = sa.MetaData()
# The computed members of one recompute, diffed against segment_members in SQL.
_scratch = sa.Table(
    "segment_scratch",
    _scratch_metadata,
    sa.Column("profile_id", sa.Uuid, primary_key=True),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def recompute(session: Session, segment: Segment, run: JobRun | None = None) -> dict[str, int]:
    """Compute the whole membership and write the difference, with history, in the caller's
    transaction."""
    (segment,) = _lock(session, [segment.id])
    _large_query_memory(session)
    definition = parse_definition(segment.definition)
    now = utcnow()
    query = members_query(
        definition, segment.org_id, now, definition_loader(session, segment.org_id)
    )
    before = _member_count(session, segment.id)
    connection = session.connection()
    _scratch.drop(connection, checkfirst=True)
    _scratch.create(connection)
    session.execute(sa.insert(_scratch).from_select(["profile_id"], query))
    if run is not None:
        run.save_progress(session, done=1)
    member = sa.select(SegmentMember.profile_id).where(
        SegmentMember.segment_id == segment.id, SegmentMember.profile_id == _scratch.c.profile_id
    )
    entering = sa.select(_scratch.c.profile_id).where(~sa.exists(member))
    _write_history_from(session, segment, entering, entered=True, now=now)
    session.execute(
        sa.insert(SegmentMember).from_select(
            ["segment_id", "org_id", "profile_id", "entered_at"],
            sa.select(
                sa.literal(segment.id, sa.Uuid),
                sa.literal(segment.org_id, sa.Uuid),
                entering.subquery().c.profile_id,
                sa.literal(now, SegmentMember.entered_at.type),
            ),
        )
    )
    if run is not None:
        run.save_progress(session, done=2)
    still = sa.select(_scratch.c.profile_id).where(
        _scratch.c.profile_id == SegmentMember.profile_id
    )
    leaving = sa.select(SegmentMember.profile_id).where(
        SegmentMember.segment_id == segment.id, ~sa.exists(still)
    )
    _write_history_from(session, segment, leaving, entered=False, now=now)
    deleted = session.execute(
        sa.delete(SegmentMember)
        .where(SegmentMember.segment_id == segment.id, ~sa.exists(still))
        .execution_options(synchronize_session=False)
    )
    if run is not None:
        run.save_progress(session, done=3)
    count = int(session.scalar(sa.select(sa.func.count()).select_from(_scratch)) or 0)
    # INSERT ... SELECT has no reliable row count on every driver; DELETE does.
    exited = int(deleted.rowcount or 0)  # type: ignore[attr-defined]
    entered = count - (before - exited)
    if session.get_bind().dialect.name == "sqlite":
        _scratch.drop(connection)
    segment.member_count = count
    segment.computed_at = now
    session.flush()
    if run is not None:
        run.save_progress(session, done=4)
    return {"members": count, "entered": entered, "exited": exited}


def _write_history_from(
    session: Session, segment: Segment, ids: sa.Select[Any], *, entered: bool, now: datetime
) -> None:
    source = ids.subquery()
    session.execute(
        sa.insert(SegmentHistory).from_select(
            ["org_id", "segment_id", "profile_id", "entered", "at"],
            sa.select(
                sa.literal(segment.org_id, sa.Uuid),
                sa.literal(segment.id, sa.Uuid),
                source.c.profile_id,
                sa.literal(entered, sa.Boolean),
                sa.literal(now, SegmentHistory.at.type),
            ),
        )
    )


def _member_count(session: Session, segment_id: uuid.UUID) -> int:
    return int(
        session.scalar(sa.select(sa.func.count()).where(SegmentMember.segment_id == segment_id))
        or 0
    )


@job_handler(RECOMPUTE_JOB)
def _run_recompute(run: JobRun) -> dict[str, Any]:
    segment_id = uuid.UUID(run.payload["segment_id"])
    with run.database.transaction() as session:
        segment = session.scalar(
            sa.select(Segment).where(Segment.org_id == run.org_id, Segment.id == segment_id)
        )
        if segment is None:
            raise JobFailed("the segment was deleted")
        return recompute(session, segment, run)


def recompute_time_relative(session: Session) -> int:
    """Queue a recompute of every segment whose membership moves with the clock."""
    queued = 0
    for segment in session.scalars(sa.select(Segment).where(Segment.time_relative.is_(True))):
        if request_recompute(session, segment, if_idle=True) is not None:
            queued += 1
    return queued


# --- Changed profiles ----------------------------------------------------------------------------


# Member queries sent together in one UNION ALL statement by the change processor.
SEGMENTS_PER_STATEMENT = 20


# Built member statements, reused for STATEMENT_REUSE_SECONDS: building ten segments' queries
# cost as much as running them for one profile. Their clock (the windows' "now") is at most
# that old, and an included segment's new definition reaches them at most that late.
STATEMENT_REUSE_SECONDS = 1.0
_statements: OrderedDict[tuple[Any, ...], tuple[float, sa.CompoundSelect[Any]]] = OrderedDict()
_statements_lock = threading.Lock()


def _members_statement(
    session: Session, group: list[Segment], loaders: dict[uuid.UUID, SegmentLoader]
) -> sa.CompoundSelect[Any]:
    """One UNION ALL of the group's member queries, over the profiles in the expanding
    `profile_ids` parameter."""
    key = tuple((s.id, s.org_id, json.dumps(s.definition, sort_keys=True)) for s in group)
    with _statements_lock:
        cached = _statements.get(key)
        if cached is not None and time.monotonic() - cached[0] < STATEMENT_REUSE_SECONDS:
            return cached[1]
    now = utcnow()
    profile_ids: sa.BindParameter[Any] = sa.bindparam("profile_ids", expanding=True)
    selects = []
    for segment in group:
        load = loaders.setdefault(segment.org_id, definition_loader(session, segment.org_id))
        query = members_query(
            stored_definition(segment.definition), segment.org_id, now, load, profile_ids
        ).subquery()
        selects.append(sa.select(sa.literal(segment.id, sa.Uuid), query.c.id))
    statement = sa.union_all(*selects)
    with _statements_lock:
        _statements[key] = (time.monotonic(), statement)
        _statements.move_to_end(key)
        while len(_statements) > 256:
            _statements.popitem(last=False)
    return statement


def evaluate_profiles(
    session: Session, segments: Iterable[Segment], profile_ids: Sequence[uuid.UUID]
) -> dict[str, int]:
    """Bring the given segments' membership of these profiles up to date, with history. The
    caller holds the segments' locks (see `_lock`).

    Per batch of profiles, the segments' member queries go to the database as one UNION ALL and
    their current memberships come back in one read: for a single profile the round trips, not
    the queries, were most of the time."""
    entered_total = exited_total = 0
    now = utcnow()
    segments = list(segments)
    loaders: dict[uuid.UUID, SegmentLoader] = {}
    for first in range(0, len(segments), SEGMENTS_PER_STATEMENT):
        group = segments[first : first + SEGMENTS_PER_STATEMENT]
        for start in range(0, len(profile_ids), CHANGE_BATCH):
            batch = list(profile_ids[start : start + CHANGE_BATCH])
            matched: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
            statement = _members_statement(session, group, loaders)
            for segment_id, profile_id in session.execute(statement, {"profile_ids": batch}):
                matched[segment_id].add(profile_id)
            current: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
            rows = session.execute(
                sa.select(SegmentMember.segment_id, SegmentMember.profile_id).where(
                    SegmentMember.segment_id.in_([s.id for s in group]),
                    SegmentMember.profile_id.in_(batch),
                )
            )
            for segment_id, profile_id in rows:
                current[segment_id].add(profile_id)
            for segment in group:
                entered = matched[segment.id] - current[segment.id]
                exited = current[segment.id] - matched[segment.id]
                _record(session, segment, entered, exited, now)
                entered_total += len(entered)
                exited_total += len(exited)
    session.flush()
    return {"entered": entered_total, "exited": exited_total}


def _record(
    session: Session,
    segment: Segment,
    entered: set[uuid.UUID],
    exited: set[uuid.UUID],
    now: datetime,
) -> None:
    if not entered and not exited:
        return
    if entered:
        session.execute(
            sa.insert(SegmentMember),
            [
                {
                    "segment_id": segment.id,
                    "org_id": segment.org_id,
                    "profile_id": p,
                    "entered_at": now,
                }
                for p in sorted(entered)
            ],
        )
    if exited:
        session.execute(
            sa.delete(SegmentMember)
            .where(SegmentMember.segment_id == segment.id, SegmentMember.profile_id.in_(exited))
            .execution_options(synchronize_session=False)
        )
    session.execute(
        sa.insert(SegmentHistory),
        [
            {
                "org_id": segment.org_id,
                "segment_id": segment.id,
                "profile_id": p,
                "entered": True,
                "at": now,
            }
            for p in sorted(entered)
        ]
        + [
            {
                "org_id": segment.org_id,
                "segment_id": segment.id,
                "profile_id": p,
                "entered": False,
                "at": now,
            }
            for p in sorted(exited)
        ],
    )
    session.execute(
        sa.update(Segment)
        .where(Segment.id == segment.id)
        .values(member_count=Segment.member_count + len(entered) - len(exited))
        .execution_options(synchronize_session=False)
    )


# Changes that can move a profile in or out of any segment, whatever it looks at.
_ANY_SEGMENT = {"created", "merged", "removed", "deleted"}


def take_changes(session: Session, limit: int) -> list[ProfileChange]:
    """Take (delete and return) up to `limit` pending change rows. On PostgreSQL concurrent
    processors skip each other's rows; SQLite has one writer at a time anyway."""
    pick = sa.select(ProfileChange).order_by(ProfileChange.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        # Locked and read in one plain statement: as `id IN (subquery)`, a planner that believes
        # the table empty (it often is) re-ran the locking subquery for every row, 18 s for 8,500.
        pick = pick.with_for_update(skip_locked=True)
    rows = list(session.scalars(pick))
    if rows:
        session.execute(
            sa.delete(ProfileChange)
            .where(ProfileChange.id.in_([row.id for row in rows]))
            .execution_options(synchronize_session=False)
        )
    return rows


def process_changes(database: Database, limit: int = CHANGES_PER_RUN) -> int:
    """Re-evaluate the segments that recorded profile changes can affect, for those profiles
    only. Returns how many change rows it took; 0 means there was nothing to do."""
    with database.transaction() as session:
        changes = take_changes(session, limit)
        by_org: dict[uuid.UUID, list[ProfileChange]] = defaultdict(list)
        for change in changes:
            by_org[change.org_id].append(change)
        for org_id, org_changes in by_org.items():
            _process_org(session, org_id, org_changes)
            # Then flows: their triggers and filters see the segments as they are now.
            from herald.flows.triggers import on_profile_changes

            on_profile_changes(session, org_id, org_changes)
    return len(changes)


def _process_org(session: Session, org_id: uuid.UUID, changes: list[ProfileChange]) -> None:
    segments = list_segments(session, org_id)
    if not segments:
        return
    any_segment: set[uuid.UUID] = set()
    profile_data: set[uuid.UUID] = set()
    events: dict[uuid.UUID, set[str]] = defaultdict(set)
    for change in changes:
        if change.reason in _ANY_SEGMENT:
            any_segment.add(change.profile_id)
        elif change.reason == "event":
            events[change.profile_id].update(change.event_names or ())
        else:
            profile_data.add(change.profile_id)
    work: dict[uuid.UUID, set[uuid.UUID]] = {}
    for segment in segments:
        ids = set(any_segment)
        if segment.uses_profile_data:
            ids |= profile_data
        metrics = set(segment.metrics)
        if metrics:
            ids |= {p for p, names in events.items() if names & metrics}
        if ids:
            work[segment.id] = ids
    if not work:
        return
    # Segments that need the same profiles are evaluated together (see evaluate_profiles).
    together: dict[frozenset[uuid.UUID], list[Segment]] = defaultdict(list)
    for segment in _lock(session, list(work)):
        together[frozenset(work[segment.id])].append(segment)
    for profile_ids, group in together.items():
        evaluate_profiles(session, group, sorted(profile_ids))


@on_erase
def _leave_on_erase(session: Session, org_id: uuid.UUID, profile_ids: list[uuid.UUID]) -> None:
    """An erased person leaves every segment, on the record, before their rows go."""
    memberships = session.execute(
        sa.select(SegmentMember.segment_id, SegmentMember.profile_id).where(
            SegmentMember.org_id == org_id, SegmentMember.profile_id.in_(profile_ids)
        )
    ).all()
    by_segment: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for segment_id, profile_id in memberships:
        by_segment[segment_id].add(profile_id)
    now = utcnow()
    for segment in _lock(session, list(by_segment)):
        _record(session, segment, set(), by_segment[segment.id], now)


# --- The builder's catalog -----------------------------------------------------------------------

CATALOG_SAMPLE = 1000


def infer_value_type(values: Iterable[Any]) -> str:
    """The comparison type a set of sampled values suggests: number, boolean, date or string."""
    kinds = set()
    for value in values:
        if isinstance(value, bool) or value in ("true", "false"):
            kinds.add("boolean")
        elif isinstance(value, (int, float)) or (
            isinstance(value, str) and lang.NUMERIC_TEXT.match(value)
        ):
            kinds.add("number")
        elif isinstance(value, str) and lang.ISO_DATE_PREFIX.match(value):
            kinds.add("date")
        else:
            kinds.add("string")
    return kinds.pop() if len(kinds) == 1 else "string"


def _property_types(rows: Iterable[dict[str, Any] | None]) -> list[tuple[str, str]]:
    seen: dict[str, list[Any]] = defaultdict(list)
    for properties in rows:
        for key, value in (properties or {}).items():
            if value is not None and not isinstance(value, (dict, list)):
                seen[key].append(value)
    return sorted((key, infer_value_type(values)) for key, values in seen.items())


def profile_property_catalog(session: Session, org_id: uuid.UUID) -> list[tuple[str, str]]:
    """Custom property names of the most recently updated profiles, with a suggested type."""
    rows = session.scalars(
        sa.select(Profile.properties)
        .where(Profile.org_id == org_id, Profile.merged_into_id.is_(None))
        .order_by(Profile.updated_at.desc())
        .limit(CATALOG_SAMPLE)
    )
    return _property_types(rows)


def event_property_catalog(
    session: Session, org_id: uuid.UUID, metric: str
) -> list[tuple[str, str]]:
    """Property names of the metric's latest events, with a suggested type."""
    rows = session.scalars(
        sa.select(Event.properties)
        .where(Event.org_id == org_id, Event.name == metric)
        .order_by(Event.time.desc())
        .limit(CATALOG_SAMPLE)
    )
    return _property_types(rows)


def metric_catalog(session: Session, org_id: uuid.UUID) -> list[str]:
    return list(
        session.scalars(
            sa.select(Metric.name).where(Metric.org_id == org_id).distinct().order_by(Metric.name)
        )
    )
