"""Creating and ending enrolments: who may enter a flow (re-entry rules, the flow's filters at
entry), the API's `enrol`, removing a person, and what publishing, pausing and archiving do to
the people in a flow.

Every trigger ends in `enrol`: it takes candidates (a profile, a trigger key that makes the
trigger enrol once, and what the trigger carried), and inserts the enrolments that pass the
rules, due at once. The engine (`herald.flows.engine`) runs them from there.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import new_ids, on_commit, utcnow
from herald.errors import Conflict, InvalidInput, NotFound
from herald.flows.definition import FlowDefinition, SegmentTrigger, dump, stored
from herald.messaging import ledger
from herald.messaging.service import live_profiles
from herald.models import Flow, FlowEnrolment, FlowStepRun, FlowVersion, SegmentHistory
from herald.profiles.identity import on_erase
from herald.segments.compiler import members_query
from herald.segments.definition import Definition, counts_from_flow_start
from herald.segments.service import definition_loader
from herald.tenancy.scope import get_scoped
from herald.worker import wake_pump

# Enrolment statuses (herald.flows.schemas.EnrolmentStatus).
ACTIVE = "active"
WAITING = "waiting"
COMPLETED = "completed"
EXITED = "exited"
FAILED = "failed"
OPEN = (ACTIVE, WAITING)

# Flow statuses.
DRAFT, LIVE, PAUSED, ARCHIVED = "draft", "live", "paused", "archived"

# Exit reasons the engine and these functions record.
REASON_FILTERS = "no longer matches the flow's filters"
REASON_ARCHIVED = "flow archived"
REASON_REMOVED = "removed from the flow"
REASON_STEP_REMOVED = "step removed"
REASON_EXIT_STEP = "exit step"
REASON_PROFILE_GONE = "profile erased"

# The engine's pump (herald.flows.tasks).
DUE_PUMP = "flows.due"

# Triggers after which one person has at most one open enrolment in the flow.
ONE_AT_A_TIME = ("segment_entered", "segment_exited", "date_property")


# --- Published definitions ---------------------------------------------------------------------

_definitions: dict[tuple[uuid.UUID, int], FlowDefinition] = {}
_definitions_lock = threading.Lock()
_DEFINITIONS_KEPT = 2000


def published(session: Session, flow_id: uuid.UUID, version: int) -> FlowDefinition:
    """A published version's definition. Versions never change, so each is parsed once per
    process."""
    key = (flow_id, version)
    with _definitions_lock:
        found = _definitions.get(key)
    if found is not None:
        return found
    raw = session.scalar(
        sa.select(FlowVersion.definition).where(
            FlowVersion.flow_id == flow_id, FlowVersion.version == version
        )
    )
    if raw is None:
        raise NotFound("flow version not found")
    definition = stored(raw)
    with _definitions_lock:
        if len(_definitions) >= _DEFINITIONS_KEPT:
            _definitions.clear()
        _definitions[key] = definition
    return definition


def matching_profiles(
    session: Session,
    org_id: uuid.UUID,
    condition: Definition,
    profile_ids: Sequence[uuid.UUID],
    now: datetime,
    flow_start: datetime | None,
) -> set[uuid.UUID]:
    """Which of these profiles match a flow condition now (the one compiler), with
    `since_flow_start` counted from `flow_start`."""
    if not profile_ids:
        return set()
    query = members_query(
        condition,
        org_id,
        now,
        definition_loader(session, org_id),
        list(profile_ids),
        flow_start=flow_start if counts_from_flow_start(condition) else None,
    )
    return set(session.scalars(query))


# --- Enrolling ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """Someone a trigger would enrol: `trigger_key` makes the trigger enrol once (an event's id,
    a segment history row, a date's occurrence, the API's unique id); `trigger` is what it
    carried (the event, the segment, the date or the API payload)."""

    profile_id: uuid.UUID
    trigger_key: str
    trigger: dict[str, Any]


@dataclass(frozen=True)
class Enrolled:
    profile_id: uuid.UUID
    enrolment_id: uuid.UUID | None
    created: bool
    reason: str | None


def enrol(
    session: Session,
    flow_id: uuid.UUID,
    candidates: Sequence[Candidate],
    now: datetime | None = None,
) -> list[Enrolled]:
    """Enrol the candidates who may enter the live flow, due at once; one outcome per candidate,
    in order. A trigger key the flow has seen before gives the enrolment it made (or nothing),
    never a second one.

    The flow's row is locked for the rest of the transaction, so two processes cannot both let
    the same person in where the rules allow one (once ever, one at a time)."""
    now = now or utcnow()
    flow = session.scalar(
        sa.select(Flow)
        .where(Flow.id == flow_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if flow is None or flow.status != LIVE or flow.published_version is None:
        return [Enrolled(c.profile_id, None, False, "the flow is not live") for c in candidates]
    definition = published(session, flow.id, flow.published_version)
    outcomes: list[Enrolled | None] = [None] * len(candidates)

    earlier = dict(
        session.execute(
            sa.select(FlowEnrolment.trigger_key, FlowEnrolment.id).where(
                FlowEnrolment.flow_id == flow.id,
                FlowEnrolment.trigger_key.in_({c.trigger_key for c in candidates}),
            )
        ).all()
    )
    live = live_profiles(session, flow.org_id, [c.profile_id for c in candidates])
    todo: list[tuple[int, uuid.UUID]] = []
    keys_seen: set[str] = set()
    for index, candidate in enumerate(candidates):
        if candidate.trigger_key in earlier:
            outcomes[index] = Enrolled(
                candidate.profile_id, earlier[candidate.trigger_key], False, "already enrolled"
            )
        elif candidate.trigger_key in keys_seen:
            outcomes[index] = Enrolled(candidate.profile_id, None, False, "already enrolled")
        elif candidate.profile_id not in live:
            outcomes[index] = Enrolled(candidate.profile_id, None, False, "profile not found")
        else:
            keys_seen.add(candidate.trigger_key)
            todo.append((index, live[candidate.profile_id][0]))

    people = sorted({person for _, person in todo})
    history = _history(session, flow.id, people)
    matching = set(people)
    if definition.filters is not None and people:
        matching = matching_profiles(session, flow.org_id, definition.filters, people, now, now)
    rows: list[dict[str, Any]] = []
    ids = iter(new_ids(len(todo)))
    for index, person in todo:
        candidate = candidates[index]
        reason = _refusal(definition, history.get(person), now)
        if reason is None and person not in matching:
            reason = "does not match the flow's filters"
        if reason is not None:
            outcomes[index] = Enrolled(person, None, False, reason)
            continue
        enrolment_id = next(ids)
        history[person] = _History(last_entered=now, open=True)
        rows.append(_row(flow, definition, enrolment_id, person, candidate, now))
        outcomes[index] = Enrolled(person, enrolment_id, True, None)
    inserted = set(
        ledger.bulk_insert(
            session,
            FlowEnrolment,
            rows,
            skip_conflicts=("flow_id", "trigger_key"),
            returning="id",
        )
    )
    if inserted:
        # The new enrolments are due now: this process's engine looks at once, not at its next
        # poll (a second from now at most).
        on_commit(session, lambda: wake_pump(DUE_PUMP))
    result: list[Enrolled] = []
    for outcome in outcomes:
        assert outcome is not None
        if outcome.created and outcome.enrolment_id not in inserted:
            # A concurrent transaction took the key first (only possible without the lock).
            outcome = Enrolled(outcome.profile_id, None, False, "already enrolled")
        result.append(outcome)
    return result


def _row(
    flow: Flow,
    definition: FlowDefinition,
    enrolment_id: uuid.UUID,
    person: uuid.UUID,
    candidate: Candidate,
    now: datetime,
) -> dict[str, Any]:
    empty = definition.start is None
    return {
        "id": enrolment_id,
        "org_id": flow.org_id,
        "flow_id": flow.id,
        "version": flow.published_version,
        "profile_id": person,
        "trigger_key": candidate.trigger_key,
        "trigger": candidate.trigger,
        "status": COMPLETED if empty else ACTIVE,
        "current_step": definition.start,
        "due_at": None if empty else now,
        "attempts": 0,
        "entered_at": now,
        "finished_at": now if empty else None,
        "exit_reason": None,
        "updated_at": now,
    }


@dataclass
class _History:
    last_entered: datetime
    open: bool


def _history(
    session: Session, flow_id: uuid.UUID, people: list[uuid.UUID]
) -> dict[uuid.UUID, _History]:
    """Each person's last entry into the flow and whether an enrolment of theirs is open."""
    if not people:
        return {}
    is_open = sa.case((FlowEnrolment.status.in_(OPEN), 1), else_=0)
    rows = session.execute(
        sa.select(
            FlowEnrolment.profile_id,
            sa.func.max(FlowEnrolment.entered_at),
            sa.func.max(is_open),
        )
        .where(FlowEnrolment.flow_id == flow_id, FlowEnrolment.profile_id.in_(people))
        .group_by(FlowEnrolment.profile_id)
    )
    return {
        profile_id: _History(last_entered=last, open=bool(open_count))
        for profile_id, last, open_count in rows
    }


def _refusal(definition: FlowDefinition, history: _History | None, now: datetime) -> str | None:
    if history is None:
        return None
    if definition.trigger.type in ONE_AT_A_TIME and history.open:
        return "already in this flow"
    reentry = definition.reentry
    if reentry.mode == "once":
        return "already entered this flow once"
    if reentry.mode == "once_per_period":
        assert reentry.period is not None
        if history.last_entered > now - timedelta(seconds=reentry.period.seconds):
            return "entered this flow within the re-entry period"
    return None


def entry_refusal(
    session: Session,
    flow_id: uuid.UUID,
    definition: FlowDefinition,
    profile_id: uuid.UUID,
    now: datetime,
) -> str | None:
    """Why the re-entry rule would keep this person out of the flow now, or None (for trying a
    flow: herald.flows.preview)."""
    return _refusal(definition, _history(session, flow_id, [profile_id]).get(profile_id), now)


def enrol_by_api(
    session: Session,
    org_id: uuid.UUID,
    flow_id: uuid.UUID,
    profile_id: uuid.UUID,
    payload: dict[str, Any],
    unique_id: str | None = None,
) -> Enrolled:
    """`POST /api/flows/{id}/enrol`: the profile enters a live flow with an API trigger. With a
    `unique_id`, a retry enrols once (and answers with the first enrolment)."""
    flow = get_scoped(session, Flow, org_id, flow_id)
    if flow.status != LIVE or flow.published_version is None:
        raise Conflict("only a live flow takes enrolments")
    definition = published(session, flow.id, flow.published_version)
    if definition.trigger.type != "api":
        raise InvalidInput.for_field("flow", "this flow is not triggered through the API")
    now = utcnow()
    key = f"api:{unique_id}" if unique_id is not None else f"api-call:{uuid.uuid4()}"
    trigger = {"type": "api", "time": now.isoformat(), "properties": payload}
    (outcome,) = enrol(session, flow.id, [Candidate(profile_id, key, trigger)], now)
    return outcome


# --- Ending enrolments -------------------------------------------------------------------------


def end_open(
    session: Session,
    where: sa.ColumnElement[bool],
    status: str,
    reason: str,
    now: datetime | None = None,
) -> int:
    """End the open enrolments that `where` selects with a status and reason; how many."""
    now = now or utcnow()
    result = session.execute(
        sa.update(FlowEnrolment)
        .where(where, FlowEnrolment.status.in_(OPEN))
        .values(status=status, exit_reason=reason, finished_at=now, due_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@on_erase
def _forget_on_erase(session: Session, org_id: uuid.UUID, profile_ids: list[uuid.UUID]) -> None:
    """An erased person leaves every flow, and what their triggers carried (event properties,
    API payloads) is forgotten; the enrolments stay as counts."""
    theirs = sa.and_(FlowEnrolment.org_id == org_id, FlowEnrolment.profile_id.in_(profile_ids))
    end_open(session, theirs, EXITED, REASON_PROFILE_GONE)
    session.execute(
        sa.update(FlowEnrolment)
        .where(theirs)
        .values(trigger={})
        .execution_options(synchronize_session=False)
    )


def remove_enrolment(
    session: Session, org_id: uuid.UUID, flow_id: uuid.UUID, enrolment_id: uuid.UUID
) -> FlowEnrolment:
    """Take a person out of a flow (an open enrolment ends as exited, "removed from the flow");
    an enrolment that has already ended is left as it is."""
    enrolment = get_scoped(session, FlowEnrolment, org_id, enrolment_id)
    if enrolment.flow_id != flow_id:
        raise NotFound("enrolment not found")
    end_open(session, FlowEnrolment.id == enrolment.id, EXITED, REASON_REMOVED)
    session.flush()
    session.refresh(enrolment)
    return enrolment


def remove_profile(
    session: Session, org_id: uuid.UUID, flow_id: uuid.UUID, profile_id: uuid.UUID
) -> int:
    """Take a person out of a flow: every open enrolment of theirs in it ends."""
    flow = get_scoped(session, Flow, org_id, flow_id)
    return end_open(
        session,
        sa.and_(FlowEnrolment.flow_id == flow.id, FlowEnrolment.profile_id == profile_id),
        EXITED,
        REASON_REMOVED,
    )


# --- Flow status ---------------------------------------------------------------------------------


def _locked(session: Session, org_id: uuid.UUID, flow_id: uuid.UUID) -> Flow:
    flow = get_scoped(session, Flow, org_id, flow_id)
    session.execute(sa.select(Flow.id).where(Flow.id == flow.id).with_for_update())
    session.refresh(flow)
    return flow


def publish(
    session: Session, org_id: uuid.UUID, flow_id: uuid.UUID, definition: FlowDefinition
) -> FlowVersion:
    """Publish `definition` as the flow's next version, and make the flow live (from draft or
    live; a paused flow stays paused and runs the new version when resumed).

    Enrolments standing in the flow move to the new version when their current step's id is in
    it and is the same kind of step (a delay keeps counting from when it started; a wait keeps
    its timeout); otherwise they exit with the reason "step removed". Finished enrolments keep
    the version they ran."""
    flow = _locked(session, org_id, flow_id)
    if flow.status == ARCHIVED:
        raise Conflict("an archived flow cannot be published")
    now = utcnow()
    version = (flow.published_version or 0) + 1
    row = FlowVersion(
        org_id=flow.org_id,
        flow_id=flow.id,
        version=version,
        definition=dump(definition),
        published_at=now,
    )
    session.add(row)
    session.flush()
    if flow.published_version is not None:
        _move_to(session, flow, definition, version, now)
    previous = (
        published(session, flow.id, flow.published_version)
        if flow.published_version is not None
        else None
    )
    if previous is None or previous.trigger != definition.trigger:
        _from_now_on(session, flow, definition, now)
    flow.published_version = version
    if flow.status == DRAFT:
        flow.status = LIVE
    if flow.status == LIVE and flow.live_at is None:
        flow.live_at = now
    flow.updated_at = now
    session.flush()
    return row


def _move_to(
    session: Session, flow: Flow, definition: FlowDefinition, version: int, now: datetime
) -> None:
    kinds = {step.id: step.type for step in definition.steps}
    assert flow.published_version is not None
    old = published(session, flow.id, flow.published_version)
    old_kinds = {step.id: step.type for step in old.steps}
    kept = [sid for sid, kind in old_kinds.items() if kinds.get(sid) == kind]
    standing = sa.and_(FlowEnrolment.flow_id == flow.id, FlowEnrolment.status.in_(OPEN))
    if kept:
        session.execute(
            sa.update(FlowEnrolment)
            .where(standing, FlowEnrolment.current_step.in_(kept))
            .values(version=version, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    end_open(
        session,
        sa.and_(
            standing,
            FlowEnrolment.version != version,
        ),
        EXITED,
        REASON_STEP_REMOVED,
        now,
    )


def pause(session: Session, org_id: uuid.UUID, flow_id: uuid.UUID) -> Flow:
    """Hold everyone where they are: nothing is due while paused, nothing is skipped (what fell
    due meanwhile runs on resume, in due order). Triggers do not enrol a paused flow, and its
    queued emails wait."""
    flow = _locked(session, org_id, flow_id)
    if flow.status != LIVE:
        raise Conflict(f"a {flow.status} flow cannot be paused")
    flow.status = PAUSED
    flow.paused_at = utcnow()
    session.flush()
    return flow


def resume(session: Session, org_id: uuid.UUID, flow_id: uuid.UUID) -> Flow:
    flow = _locked(session, org_id, flow_id)
    if flow.status != PAUSED:
        raise Conflict(f"a {flow.status} flow cannot be resumed")
    now = utcnow()
    flow.status = LIVE
    flow.paused_at = None
    flow.live_at = flow.live_at or now
    if flow.published_version is not None:
        _from_now_on(session, flow, published(session, flow.id, flow.published_version), now)
    session.flush()
    return flow


def _from_now_on(session: Session, flow: Flow, definition: FlowDefinition, now: datetime) -> None:
    """Segment and date triggers start from now: who entered or left the segment, or whose date
    came, before the flow went live (or while it was paused) does not enter it later, just as
    events from then do not."""
    if isinstance(definition.trigger, SegmentTrigger):
        flow.trigger_cursor = session.scalar(
            sa.select(sa.func.coalesce(sa.func.max(SegmentHistory.id), 0)).where(
                SegmentHistory.segment_id == definition.trigger.segment_id
            )
        )
    if definition.trigger.type == "date_property":
        flow.date_scanned_until = now


def archive(session: Session, org_id: uuid.UUID, flow_id: uuid.UUID) -> Flow:
    """End the flow: open enrolments exit ("flow archived"), its queued emails are skipped."""
    flow = _locked(session, org_id, flow_id)
    if flow.status == ARCHIVED:
        return flow
    now = utcnow()
    flow.status = ARCHIVED
    flow.archived_at = now
    flow.paused_at = None
    end_open(session, FlowEnrolment.flow_id == flow.id, EXITED, REASON_ARCHIVED, now)
    session.flush()
    return flow


def history_of(session: Session, enrolment_id: uuid.UUID) -> list[FlowStepRun]:
    """The steps an enrolment took, in order."""
    return list(
        session.scalars(
            sa.select(FlowStepRun)
            .where(FlowStepRun.enrolment_id == enrolment_id)
            .order_by(FlowStepRun.at, FlowStepRun.id)
        )
    )
