"""A real `herald worker` process is killed with SIGKILL while a flow sends to thousands of
enrolments; a new one finishes. Every enrolment ends completed with exactly one message, sent
exactly once (one `sent` event, one outbox file), on both backends (as test_campaign_kill does
for campaigns, whose worker helpers this reuses).

The dead worker's batch of enrolments was one transaction: it is claimed again as a whole. Its
messages in `sending` are picked up once their heartbeat is older than five minutes, which the
test ages rather than waits for, as the campaign test does.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import sqlalchemy as sa

from herald.db import Database
from herald.flows.enrolments import Candidate, enrol
from herald.messaging import ledger
from herald.models import FlowEnrolment, FlowStepRun, Message, MessageEvent
from herald.worker import configure_queue
from tests.conftest import Backend
from tests.flows.engine_helpers import make_flow, make_profiles, sending_org
from tests.test_campaign_kill import WORKER_QUEUE, _reader, finish_after_kill, kill_worker_when

AUDIENCE = 2000
DEADLINE = 120


def _setup(database: Database) -> tuple[uuid.UUID, uuid.UUID]:
    org, template_id = sending_org(database)
    flow_id = make_flow(
        database,
        org.org_id,
        {
            "trigger": {"type": "api"},
            "start": "split",
            "steps": [
                {
                    "id": "split",
                    "type": "random_split",
                    "branches": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
                    "outputs": {"a": "email", "b": "email"},
                },
                {
                    "id": "email",
                    "type": "send_email",
                    "email": {"template_id": str(template_id), "smart_sending": False},
                    "outputs": {"next": None},
                },
            ],
        },
    )
    profile_ids = make_profiles(database, org.org_id, AUDIENCE)
    with database.transaction() as session:
        outcomes = enrol(
            session,
            flow_id,
            [Candidate(p, f"api:{p}", {"type": "api", "properties": {}}) for p in profile_ids],
        )
        assert all(o.created for o in outcomes)
    return org.org_id, flow_id


def _progress(database: Database, flow_id: uuid.UUID) -> tuple[int, int]:
    """Open enrolments and sent messages of the flow, in one plain read."""
    still_open = (
        sa.select(sa.func.count())
        .select_from(FlowEnrolment)
        .where(FlowEnrolment.flow_id == flow_id, FlowEnrolment.status.in_(("active", "waiting")))
        .scalar_subquery()
    )
    sent = (
        sa.select(sa.func.count())
        .select_from(Message)
        .where(Message.source_id == flow_id, Message.status == ledger.SENT)
        .scalar_subquery()
    )
    with _reader(database).connect() as connection:
        opened, done = connection.execute(sa.select(still_open, sent)).one()
    return int(opened), int(done)


def test_a_killed_worker_sends_no_flow_email_twice_and_loses_none(
    backend: Backend, database: Database, tmp_path: Path
) -> None:
    configure_queue(redis_url=backend.redis_url, data_dir=backend.data_dir, name=WORKER_QUEUE)
    org_id, flow_id = _setup(database)
    log = tmp_path / "worker.log"

    kill_worker_when(backend, log, lambda: _progress(database, flow_id)[1] >= 30)
    _, sent_at_kill = _progress(database, flow_id)
    assert sent_at_kill < AUDIENCE, "the kill came too late to prove anything"
    finish_after_kill(
        backend,
        database,
        log,
        lambda: _progress(database, flow_id) == (0, AUDIENCE),
        lambda: _progress(database, flow_id),
    )

    with database.transaction() as session:
        enrolled = list(
            session.scalars(sa.select(FlowEnrolment).where(FlowEnrolment.flow_id == flow_id))
        )
        flow_messages = list(
            session.scalars(sa.select(Message).where(Message.source_id == flow_id))
        )
        sent_events = dict(
            session.execute(
                sa.select(MessageEvent.message_id, sa.func.count())
                .where(
                    MessageEvent.message_id.in_([m.id for m in flow_messages]),
                    MessageEvent.kind == ledger.SENT,
                )
                .group_by(MessageEvent.message_id)
            ).all()
        )
        email_runs = dict(
            session.execute(
                sa.select(FlowStepRun.enrolment_id, FlowStepRun.message_id).where(
                    FlowStepRun.flow_id == flow_id, FlowStepRun.step_id == "email"
                )
            ).all()
        )
    assert len(enrolled) == AUDIENCE
    assert {e.status for e in enrolled} == {"completed"}
    assert len(flow_messages) == AUDIENCE
    assert {m.idempotency_key for m in flow_messages} == {
        f"flow:{flow_id}:{e.id}:email" for e in enrolled
    }
    assert set(email_runs) == {e.id for e in enrolled}
    assert set(email_runs.values()) == {m.id for m in flow_messages}
    assert {m.status for m in flow_messages} == {ledger.SENT}
    assert len(sent_events) == AUDIENCE and set(sent_events.values()) == {1}
    outbox = backend.data_dir / "outbox" / str(org_id)
    files = sorted(p.name for p in outbox.glob("*.eml"))
    assert files == sorted(f"{m.id}.eml" for m in flow_messages)
    assert 0 < sent_at_kill < AUDIENCE
