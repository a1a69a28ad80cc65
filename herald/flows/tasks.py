"""Worker side of flows: the pumps that run due enrolments and read segment history (every
worker process, within a second), the minutely scan of date triggers, and the gate that holds
a paused flow's queued emails and skips an archived one's."""

from __future__ import annotations

import sqlalchemy as sa
from huey import crontab
from sqlalchemy.orm import Session

from herald.db import Database, get_database
from herald.email.gates import SendVerdict, send_gate
from herald.flows import engine, sms_step, steps, triggers, webhooks  # noqa: F401 (handlers)
from herald.flows.enrolments import DUE_PUMP, LIVE, PAUSED
from herald.models import Flow, Message
from herald.worker import huey, register_pump


@register_pump(DUE_PUMP)
def run_due_steps(database: Database) -> int:
    return engine.run_due(database, webhooks_beside=True)


@register_pump("flows.segments")
def read_segment_history(database: Database) -> int:
    return triggers.scan_segments(database)


@huey.periodic_task(crontab(minute="*"), name="herald.flows.dates")  # type: ignore[untyped-decorator]
def scan_date_triggers() -> int:
    return triggers.scan_dates(get_database())


@send_gate("flow")
def may_send(session: Session, message: Message) -> SendVerdict:
    """A live flow's email goes; a paused flow's waits for the resume; an archived (or deleted)
    flow's is skipped."""
    status = session.scalar(sa.select(Flow.status).where(Flow.id == message.source_id))
    if status == LIVE:
        return "send"
    if status == PAUSED:
        return "hold"
    return "skip"
