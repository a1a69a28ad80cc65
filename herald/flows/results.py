"""A flow's figures, overall and per step, over a period.

People: entered (enrolments that started in the period), active and waiting (now), completed,
exited by reason and failed (enrolments that ended in the period). Steps: how often each output
or outcome was taken (`flow_step_runs`), who stands on the step now. Messages: the ledger rows the
flow's send steps made (a step run names its message), counted by herald.analytics.measures over
the period exactly as campaigns and the analytics reports count (sent and delivered in the period,
messages whose first human open, click, hard bounce or unsubscribe fell in it), and the
conversions credited to them by the one attribution rule with the organization's conversion
metric and window (herald.analytics.settings).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.analytics import measures
from herald.analytics.settings import attribution_settings
from herald.flows import schemas
from herald.flows.definition import FlowDefinition
from herald.messaging import attribution
from herald.models import Flow, FlowEnrolment, FlowStepRun, Message

RUNNING = ("active", "waiting")
# Ids per IN list (SQLite and PostgreSQL both take this many bound parameters easily).
_CHUNK = 500


@dataclass
class _Messages:
    sent: int = 0
    delivered: int = 0
    bounced: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    conversions: int = 0
    revenue: float = 0.0

    def figures(self) -> schemas.MessageFigures:
        return schemas.MessageFigures(
            sent=self.sent,
            delivered=self.delivered,
            bounced=self.bounced,
            opened=self.opened,
            clicked=self.clicked,
            unsubscribed=self.unsubscribed,
        )


@dataclass
class _People:
    entered: int = 0
    active: int = 0
    waiting: int = 0
    completed: int = 0
    failed: int = 0
    exited: dict[str, int] = field(default_factory=dict)


def _message_figures(
    session: Session,
    org_id: uuid.UUID,
    flow_ids: list[uuid.UUID],
    since: datetime,
) -> dict[tuple[uuid.UUID, str], _Messages]:
    """Per (flow, step): the measures (herald.analytics.measures, as campaigns and the analytics
    reports count them) of the messages its send step made, over [since, now), and the
    conversions credited to them by the one attribution rule with the organization's metric and
    window."""
    figures: dict[tuple[uuid.UUID, str], _Messages] = defaultdict(_Messages)
    made = (
        FlowStepRun.org_id == org_id,
        FlowStepRun.flow_id.in_(flow_ids),
        FlowStepRun.message_id.is_not(None),
    )
    keyed = sa.select(
        FlowStepRun.message_id.label("message_id"), FlowStepRun.flow_id, FlowStepRun.step_id
    ).where(*made)
    for (flow_id, step_id), measured in measures.message_measures(
        session, org_id, keyed, start=since
    ).items():
        own = figures[flow_id, step_id]
        own.sent, own.delivered = measured.sent, measured.delivered
        own.bounced, own.unsubscribed = measured.bounced, measured.unsubscribes
        own.opened, own.clicked = measured.opens_unique, measured.clicks_unique
    settings = attribution_settings(session, org_id)
    of_flows = sa.select(FlowStepRun.message_id).where(*made).scalar_subquery()
    credited = [
        c
        for c in attribution.attributed_conversions(
            session,
            org_id,
            sa.and_(Message.org_id == org_id, Message.id.in_(of_flows)),
            metric=settings.conversion_metric,
            window=settings.window,
        )
        if c.time >= since
    ]
    owners = _owners(session, org_id, {c.message_id for c in credited})
    for conversion in credited:
        own = figures[owners[conversion.message_id]]
        own.conversions += 1
        own.revenue += conversion.value
    return figures


def _owners(
    session: Session, org_id: uuid.UUID, message_ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[uuid.UUID, str]]:
    """The (flow, step) that made each of these messages."""
    owners: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}
    wanted = sorted(message_ids)
    for start in range(0, len(wanted), _CHUNK):
        rows = session.execute(
            sa.select(FlowStepRun.message_id, FlowStepRun.flow_id, FlowStepRun.step_id).where(
                FlowStepRun.org_id == org_id,
                FlowStepRun.message_id.in_(wanted[start : start + _CHUNK]),
            )
        )
        for message_id, flow_id, step_id in rows:
            if message_id is not None:
                owners[message_id] = (flow_id, step_id)
    return owners


def _people(
    session: Session, org_id: uuid.UUID, flow_ids: list[uuid.UUID], since: datetime
) -> dict[uuid.UUID, _People]:
    people: dict[uuid.UUID, _People] = defaultdict(_People)
    entered = session.execute(
        sa.select(FlowEnrolment.flow_id, sa.func.count())
        .where(
            FlowEnrolment.org_id == org_id,
            FlowEnrolment.flow_id.in_(flow_ids),
            FlowEnrolment.entered_at >= since,
        )
        .group_by(FlowEnrolment.flow_id)
    )
    for flow_id, count in entered:
        people[flow_id].entered = int(count)
    running = session.execute(
        sa.select(FlowEnrolment.flow_id, FlowEnrolment.status, sa.func.count())
        .where(
            FlowEnrolment.org_id == org_id,
            FlowEnrolment.flow_id.in_(flow_ids),
            FlowEnrolment.status.in_(RUNNING),
        )
        .group_by(FlowEnrolment.flow_id, FlowEnrolment.status)
    )
    for flow_id, status, count in running:
        setattr(people[flow_id], status, int(count))
    ended = session.execute(
        sa.select(
            FlowEnrolment.flow_id,
            FlowEnrolment.status,
            FlowEnrolment.exit_reason,
            sa.func.count(),
        )
        .where(
            FlowEnrolment.org_id == org_id,
            FlowEnrolment.flow_id.in_(flow_ids),
            FlowEnrolment.status.not_in(RUNNING),
            FlowEnrolment.finished_at >= since,
        )
        .group_by(FlowEnrolment.flow_id, FlowEnrolment.status, FlowEnrolment.exit_reason)
    )
    for flow_id, status, reason, count in ended:
        own = people[flow_id]
        if status == "completed":
            own.completed += int(count)
        elif status == "failed":
            own.failed += int(count)
        else:
            key = reason or "unknown"
            own.exited[key] = own.exited.get(key, 0) + int(count)
    return people


def summaries(
    session: Session, org_id: uuid.UUID, flow_ids: list[uuid.UUID], since: datetime
) -> dict[uuid.UUID, schemas.FlowResultsSummary]:
    """The list's figures for many flows at once (a few grouped queries, not one per flow)."""
    people = _people(session, org_id, flow_ids, since)
    messages = _message_figures(session, org_id, flow_ids, since)
    totals: dict[uuid.UUID, _Messages] = defaultdict(_Messages)
    for (flow_id, _step), figures in messages.items():
        _add(totals[flow_id], figures)
    return {
        flow_id: schemas.FlowResultsSummary(
            entered=people[flow_id].entered,
            completed=people[flow_id].completed,
            sent=totals[flow_id].sent,
            opened=totals[flow_id].opened,
            clicked=totals[flow_id].clicked,
            conversions=totals[flow_id].conversions,
            revenue=round(totals[flow_id].revenue, 2),
        )
        for flow_id in flow_ids
    }


def _add(total: _Messages, figures: _Messages) -> None:
    for name in total.__dataclass_fields__:
        setattr(total, name, getattr(total, name) + getattr(figures, name))


def flow_results(
    session: Session, flow: Flow, definition: FlowDefinition, since: datetime
) -> schemas.FlowResults:
    """The flow's figures since `since`, and each step's (the steps of `definition`, then any
    step an older version had that enrolments still took or stand on)."""
    people = _people(session, flow.org_id, [flow.id], since)[flow.id]
    messages = _message_figures(session, flow.org_id, [flow.id], since)
    outcomes: dict[str, dict[str, int]] = defaultdict(dict)
    run_types: dict[str, str] = {}
    runs = session.execute(
        sa.select(FlowStepRun.step_id, FlowStepRun.step_type, FlowStepRun.outcome, sa.func.count())
        .where(
            FlowStepRun.org_id == flow.org_id,
            FlowStepRun.flow_id == flow.id,
            FlowStepRun.at >= since,
        )
        .group_by(FlowStepRun.step_id, FlowStepRun.step_type, FlowStepRun.outcome)
    )
    for step_id, step_type, outcome, count in runs:
        outcomes[step_id][outcome] = outcomes[step_id].get(outcome, 0) + int(count)
        run_types[step_id] = step_type
    standing: dict[tuple[str, str], int] = {}
    rows = session.execute(
        sa.select(FlowEnrolment.current_step, FlowEnrolment.status, sa.func.count())
        .where(
            FlowEnrolment.org_id == flow.org_id,
            FlowEnrolment.flow_id == flow.id,
            FlowEnrolment.status.in_(RUNNING),
            FlowEnrolment.current_step.is_not(None),
        )
        .group_by(FlowEnrolment.current_step, FlowEnrolment.status)
    )
    for current, status, count in rows:
        if current is not None:
            standing[current, status] = int(count)
            run_types.setdefault(current, "")
    steps: list[tuple[str, str, str | None]] = [
        (step.id, step.type, step.name) for step in definition.steps
    ]
    known = {step_id for step_id, _type, _name in steps}
    steps += [(step_id, kind, None) for step_id, kind in run_types.items() if step_id not in known]
    total = _Messages()
    for figures in messages.values():
        _add(total, figures)
    step_results = []
    for step_id, kind, name in steps:
        own = messages.get((flow.id, step_id), _Messages())
        step_results.append(
            schemas.StepResults(
                step_id=step_id,
                type=kind,
                name=name,
                active=standing.get((step_id, "active"), 0),
                waiting=standing.get((step_id, "waiting"), 0),
                outcomes=outcomes.get(step_id, {}),
                messages=own.figures(),
                conversions=own.conversions,
                revenue=round(own.revenue, 2),
            )
        )
    return schemas.FlowResults(
        since=since,
        entered=people.entered,
        active=people.active,
        waiting=people.waiting,
        completed=people.completed,
        exited=people.exited,
        failed=people.failed,
        messages=total.figures(),
        conversions=total.conversions,
        revenue=round(total.revenue, 2),
        steps=step_results,
    )
