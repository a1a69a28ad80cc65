"""The flow engine: runs the enrolments whose time has come.

Timers are rows (DESIGN): an enrolment that waits on a delay, a wait step's timeout or a
webhook's retry is a row with a due time, and the (status, due_at) index is the timer, so a
million waiting enrolments cost nothing until they fall due. Every worker process runs the
`flows.due` pump (herald.flows.tasks), which calls `run_due`:

1. Claim a batch of due enrolments of live flows, oldest due first (FOR UPDATE SKIP LOCKED on
   PostgreSQL, so workers share the work; SQLite has one writer at a time).
2. In rounds, until none of them is due any more: check the flow's filters (a person who no
   longer matches exits, with the reason), then run each enrolment's current step, grouped by
   step type so that each kind of step is one or two statements for the whole batch
   (herald.flows.steps). A step's outcome is recorded (FlowStepRun) and the enrolment advanced
   to the output's next step, due at once, or held until its time (a delay, a wait).
3. Write the batch back and commit: outcomes, advances and the messages the batch queued are
   one transaction, so a worker that dies part-way leaves nothing done and nothing half-done,
   and the next claim does the batch again. Kicks for the messages go after the commit.

Webhook steps call out over HTTP, which must not happen inside that transaction: the step holds
the enrolment for a lease (its due time moves forward), the request is made after the commit,
and the outcome is recorded in a second transaction if the enrolment is still where it was
(`herald.flows.webhooks`). A worker that dies during the request leaves the lease to run out,
and the delivery is made again: webhooks are delivered at least once, each with a delivery id.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from herald.db import Database, new_ids, utcnow
from herald.flows import enrolments
from herald.flows.definition import MAX_STEPS, FlowDefinition
from herald.flows.enrolments import ACTIVE, COMPLETED, EXITED, FAILED, LIVE, OPEN, WAITING
from herald.messaging import ledger
from herald.messaging.service import live_profiles
from herald.models import Flow, FlowEnrolment, FlowStepRun
from herald.segments.definition import Definition, counts_from_flow_start

logger = logging.getLogger(__name__)

# Enrolments claimed per transaction: enough that each kind of step is a few statements for
# hundreds of people, few enough that a transaction stays short.
BATCH = 500


@dataclass
class Work:
    """An enrolment in hand: its row's values, changed in memory, written back at the end."""

    id: uuid.UUID
    org_id: uuid.UUID
    flow_id: uuid.UUID
    version: int
    profile_id: uuid.UUID
    trigger: dict[str, Any]
    status: str
    step: str | None
    due_at: datetime | None
    attempts: int
    entered_at: datetime
    finished_at: datetime | None = None
    exit_reason: str | None = None
    definition: FlowDefinition | None = None
    dirty: bool = False

    @property
    def flow(self) -> FlowDefinition:
        assert self.definition is not None
        return self.definition

    def current(self) -> Any:
        assert self.step is not None
        return self.flow.step(self.step)


ENROLMENT_COLUMNS = (
    FlowEnrolment.id,
    FlowEnrolment.org_id,
    FlowEnrolment.flow_id,
    FlowEnrolment.version,
    FlowEnrolment.profile_id,
    FlowEnrolment.trigger,
    FlowEnrolment.status,
    FlowEnrolment.current_step,
    FlowEnrolment.due_at,
    FlowEnrolment.attempts,
    FlowEnrolment.entered_at,
)


def _work(row: Any) -> Work:
    return Work(*row)


# What a step does with the enrolments that are due on it (all of one step type, any flows):
# for each, record an outcome and advance, hold it until a time, or end it.
StepHandler = Callable[["Batch", list[Work]], None]
_handlers: dict[str, StepHandler] = {}


def step_handler(step_type: str) -> Callable[[StepHandler], StepHandler]:
    """Register the code that runs one type of step (herald.flows.steps registers the built-in
    ones; a new channel's step, such as `send_sms`, registers its own)."""

    def decorator(handler: StepHandler) -> StepHandler:
        _handlers[step_type] = handler
        return handler

    return decorator


@dataclass
class Batch:
    """The enrolments of one transaction and what happened to them."""

    session: Session
    now: datetime
    works: list[Work]
    runs: list[dict[str, Any]] = field(default_factory=list)
    # Webhook deliveries to make after the commit: (enrolment id, step id, attempt).
    deliveries: list[tuple[uuid.UUID, str, int]] = field(default_factory=list)

    # --- transitions ---------------------------------------------------------------------------

    def record(
        self,
        work: Work,
        outcome: str,
        detail: dict[str, Any] | None = None,
        message_id: uuid.UUID | None = None,
    ) -> None:
        step = work.current()
        self.runs.append(
            {
                "org_id": work.org_id,
                "flow_id": work.flow_id,
                "enrolment_id": work.id,
                "step_id": step.id,
                "step_type": step.type,
                "at": self.now,
                "outcome": outcome[:64],
                "detail": detail or {},
                "message_id": message_id,
            }
        )

    def advance(
        self,
        work: Work,
        output: str,
        outcome: str | None = None,
        detail: dict[str, Any] | None = None,
        message_id: uuid.UUID | None = None,
    ) -> None:
        """Record the step's outcome (the output taken, unless said otherwise) and move on
        along `output`: the next step is due at once; no next step completes the enrolment."""
        self.record(work, outcome or output, detail, message_id)
        following = work.current().outputs.get(output)
        work.dirty = True
        work.attempts = 0
        if following is None:
            self.end(work, COMPLETED, None)
            return
        work.step = following
        work.status = ACTIVE
        work.due_at = self.now

    def hold(
        self, work: Work, until: datetime, *, status: str = ACTIVE, attempts: int | None = None
    ) -> None:
        """Leave the enrolment on its step until `until` (the row is the timer)."""
        work.dirty = True
        work.status = status
        work.due_at = until
        if attempts is not None:
            work.attempts = attempts

    def end(self, work: Work, status: str, reason: str | None) -> None:
        work.dirty = True
        work.status = status
        work.exit_reason = reason[:255] if reason else None
        work.finished_at = self.now
        work.due_at = None
        work.attempts = 0

    def fail(self, work: Work, reason: str, detail: dict[str, Any] | None = None) -> None:
        """The step could not be done: record it, and stop the enrolment where it is."""
        self.record(work, "failed", {"reason": reason, **(detail or {})})
        self.end(work, FAILED, reason)

    # --- running -------------------------------------------------------------------------------

    def due(self) -> list[Work]:
        return [
            w
            for w in self.works
            if w.status in OPEN and w.due_at is not None and w.due_at <= self.now
        ]

    def run(self) -> None:
        """Run the batch's enrolments until none is due: each round checks the filters and runs
        one step of each due enrolment. A flow is acyclic, so the rounds end."""
        self._follow_profiles()
        for _ in range(MAX_STEPS + 2):
            due = self.due()
            if not due:
                return
            due = self._check_filters(due)
            steps_before = {w.id: w.step for w in due}
            by_type: dict[str, list[Work]] = defaultdict(list)
            for work in due:
                by_type[work.current().type].append(work)
            for step_type, group in by_type.items():
                handler = _handlers.get(step_type)
                if handler is None:
                    for work in group:
                        self.fail(work, f"this Herald cannot run {step_type} steps")
                    continue
                handler(self, group)
            for work in due:
                stuck = work.status in OPEN and work.due_at is not None and work.due_at <= self.now
                if stuck and work.step == steps_before[work.id]:
                    # A handler that neither moved it on nor held it: never loop on it.
                    self.fail(work, "the step did not finish")
        raise RuntimeError("flow steps did not settle")  # pragma: no cover

    def _follow_profiles(self) -> None:
        """Enrolments follow a merged profile to its survivor; an erased one's end."""
        by_org: dict[uuid.UUID, list[Work]] = defaultdict(list)
        for work in self.works:
            by_org[work.org_id].append(work)
        for org_id, group in by_org.items():
            live = live_profiles(self.session, org_id, [w.profile_id for w in group])
            for work in group:
                found = live.get(work.profile_id)
                if found is None:
                    self.end(work, EXITED, enrolments.REASON_PROFILE_GONE)
                elif found[0] != work.profile_id:
                    work.profile_id = found[0]
                    work.dirty = True

    def _check_filters(self, due: list[Work]) -> list[Work]:
        """The flow's filters, checked before every step (when an enrolment arrives at it) and
        when a delay ends, before the delay counts the person as passed: someone who no longer
        matches exits on the delay, so its count of people who went on is the next step's
        count of arrivals. A webhook's retry is the same step, and is not checked again."""
        groups: dict[tuple[Any, ...], list[Work]] = defaultdict(list)
        passing: list[Work] = []
        for work in due:
            if work.flow.filters is None or (work.attempts > 0 and work.current().type != "delay"):
                passing.append(work)
            else:
                groups[(work.flow_id, work.version, anchor(work.flow.filters, work))].append(work)
        for group in groups.values():
            first = group[0]
            assert first.flow.filters is not None
            matching = enrolments.matching_profiles(
                self.session,
                first.org_id,
                first.flow.filters,
                sorted({w.profile_id for w in group}),
                self.now,
                first.entered_at,
            )
            for work in group:
                if work.profile_id in matching:
                    passing.append(work)
                else:
                    self.end(work, EXITED, enrolments.REASON_FILTERS)
        return passing

    # --- writing back --------------------------------------------------------------------------

    def write(self) -> None:
        changed = [w for w in self.works if w.dirty]
        ledger.bulk_update(
            self.session,
            FlowEnrolment,
            [
                {
                    "id": w.id,
                    "profile_id": w.profile_id,
                    "version": w.version,
                    "status": w.status,
                    "current_step": w.step,
                    "due_at": w.due_at,
                    "attempts": w.attempts,
                    "finished_at": w.finished_at,
                    "exit_reason": w.exit_reason,
                    "updated_at": self.now,
                }
                for w in changed
            ],
        )
        if self.runs:
            # In order, so that a history read by (at, id) lists the steps as they were taken.
            ids = iter(sorted(new_ids(len(self.runs))))
            ledger.bulk_insert(
                self.session,
                FlowStepRun,
                [{"id": next(ids), **run} for run in self.runs],
                skip_conflicts=("enrolment_id", "step_id"),
            )


def anchor(condition: Definition, work: Work) -> datetime | None:
    """The enrolment's start when the condition counts events since it, else None: conditions
    are checked for a group of enrolments at once, and only then does the start tell them
    apart."""
    return work.entered_at if counts_from_flow_start(condition) else None


def load(session: Session, works: Iterable[Work]) -> list[Work]:
    """Attach each enrolment's published definition; an enrolment whose step is not in it
    fails (it cannot happen through `publish`, which moves or ends them)."""
    loaded = []
    for work in works:
        work.definition = enrolments.published(session, work.flow_id, work.version)
        loaded.append(work)
    return loaded


def _claim(
    session: Session, now: datetime, limit: int, only: uuid.UUID | None = None
) -> list[Work]:
    """Due enrolments of live flows, oldest due first, locked for this transaction (skipping
    those another worker holds, on PostgreSQL). One query per status, each in the order of the
    (status, due_at) index. `only`: that enrolment, if it is due."""
    postgres = session.get_bind().dialect.name == "postgresql"
    works: list[Work] = []
    for status in (ACTIVE, WAITING):
        query = (
            sa.select(*ENROLMENT_COLUMNS)
            .join(Flow, Flow.id == FlowEnrolment.flow_id)
            .where(
                FlowEnrolment.status == status,
                FlowEnrolment.due_at <= now,
                Flow.status == LIVE,
            )
            .order_by(FlowEnrolment.due_at)
            .limit(limit - len(works))
        )
        if only is not None:
            query = query.where(FlowEnrolment.id == only)
        if postgres:
            query = query.with_for_update(of=FlowEnrolment, skip_locked=True)
        works.extend(_work(row) for row in session.execute(query))
        if len(works) >= limit:
            break
    return works


def run_due(
    database: Database,
    limit: int = BATCH,
    now: datetime | None = None,
    *,
    webhooks_beside: bool = False,
) -> int:
    """Run one batch of due enrolments (see the module's description); how many it claimed.
    `webhooks_beside`: webhook requests are made in other threads (the pump's way) rather than
    before this returns.

    When a batch fails, its enrolments are run one at a time, so that one whose step cannot be
    done (a bug, data the database refuses) fails on its own, with the error as its reason,
    instead of holding back everyone due after it. A database that cannot be reached is not a
    step's fault: that error goes up, and the pump tries again."""
    try:
        return _run_batch(database, limit, now, webhooks_beside=webhooks_beside)
    except TRANSIENT:
        raise
    except Exception:
        logger.exception("a batch of flow steps failed; running it one enrolment at a time")
    handled = 0
    moment = now or utcnow()
    with database.transaction() as session:
        ids = [w.id for w in _claim(session, moment, limit)]
    for enrolment_id in ids:
        try:
            handled += _run_batch(
                database, 1, now, only=enrolment_id, webhooks_beside=webhooks_beside
            )
        except TRANSIENT:
            raise
        except Exception as exc:
            logger.exception("flow enrolment %s: its step failed", enrolment_id)
            _fail_step(database, enrolment_id, exc, moment)
            handled += 1
    return handled


# Errors of the database connection rather than of a step: the batch is tried again as it is.
TRANSIENT = (sa.exc.OperationalError, sa.exc.InterfaceError)


def _run_batch(
    database: Database,
    limit: int,
    now: datetime | None,
    only: uuid.UUID | None = None,
    *,
    webhooks_beside: bool = False,
) -> int:
    from herald.flows import webhooks

    with database.transaction() as session:
        moment = now or utcnow()
        works = load(session, _claim(session, moment, limit, only))
        if not works:
            return 0
        batch = Batch(session, moment, works)
        batch.run()
        batch.write()
        deliveries = list(batch.deliveries)
    if deliveries:
        if webhooks_beside:
            webhooks.deliver_beside(database, deliveries)
        else:
            webhooks.deliver(database, deliveries)
    return len(works)


def _fail_step(
    database: Database, enrolment_id: uuid.UUID, error: Exception, now: datetime
) -> None:
    """The enrolment's step raised: it fails there, with the error, if it is still due on it."""
    reason = f"the step failed: {type(error).__name__}: {error}"

    def act(batch: Batch, works: list[Work]) -> None:
        for work in works:
            if work.due_at is not None and work.due_at <= batch.now:
                batch.fail(work, reason)

    with database.transaction() as session:
        run_locked(session, [enrolment_id], act, now=now)


def run_until_idle(database: Database, now: datetime | None = None) -> int:
    """Run batches until nothing is due (tests, and `herald` commands); how many were run."""
    total = 0
    while True:
        handled = run_due(database, now=now)
        total += handled
        if handled == 0:
            return total


def run_locked(
    session: Session,
    enrolment_ids: Sequence[uuid.UUID],
    act: Callable[[Batch, list[Work]], None],
    *,
    where: sa.ColumnElement[bool] | None = None,
    now: datetime | None = None,
) -> Batch:
    """Lock these enrolments (those still open and meeting `where`), let `act` change them with
    the batch's transitions, and write them back, in the caller's transaction: how an event
    that arrives wakes a waiting enrolment, and how a webhook's outcome is recorded."""
    query = (
        sa.select(*ENROLMENT_COLUMNS)
        .where(FlowEnrolment.id.in_(list(enrolment_ids)), FlowEnrolment.status.in_(OPEN))
        .order_by(FlowEnrolment.id)
        .with_for_update()
    )
    if where is not None:
        query = query.where(where)
    works = load(session, [_work(row) for row in session.execute(query)])
    batch = Batch(session, now or utcnow(), works)
    if works:
        act(batch, works)
        batch.write()
    return batch
