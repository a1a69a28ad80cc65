"""A real `herald worker` in the middle of a campaign: killed with SIGKILL, its claims are taken
over by another worker within a minute (the process registry), not after five minutes of stale
heartbeats; stopped with SIGTERM, it finishes what it holds and leaves nothing claimed. Either
way every recipient gets one message, sent once."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from herald.db import Database
from herald.messaging import ledger
from herald.models import Message, MessageEvent, Process
from herald.worker import configure_queue
from tests.conftest import Backend
from tests.test_campaign_kill import (
    AUDIENCE,
    WORKER_QUEUE,
    _progress,
    _setup,
    _states,
    worker_process,
)

TAKEOVER_LIMIT = 60.0
GRACE_SECONDS = 20
DEADLINE = 150.0


def _wait_for_sends(database: Database, campaign_id: uuid.UUID, log: Path, count: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while _progress(database, campaign_id)[2] < count:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.005)


def _sending(database: Database, campaign_id: uuid.UUID) -> int:
    with database.transaction() as session:
        return int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(Message)
                .where(Message.source_id == campaign_id, Message.status == ledger.SENDING)
            )
            or 0
        )


def _wait_until_sent(database: Database, campaign_id: uuid.UUID, log: Path) -> None:
    deadline = time.monotonic() + DEADLINE
    while _progress(database, campaign_id)[0] != "sent":
        assert time.monotonic() < deadline, (_states(database, campaign_id), log.read_text())
        time.sleep(0.2)


def _assert_each_sent_once(database: Database, campaign_id: uuid.UUID) -> None:
    with database.transaction() as session:
        messages = list(session.scalars(sa.select(Message).where(Message.source_id == campaign_id)))
        sent_events = dict(
            session.execute(
                sa.select(MessageEvent.message_id, sa.func.count())
                .where(
                    MessageEvent.message_id.in_([m.id for m in messages]),
                    MessageEvent.kind == ledger.SENT,
                )
                .group_by(MessageEvent.message_id)
            ).all()
        )
    assert len(messages) == AUDIENCE
    assert {m.status for m in messages} == {ledger.SENT}
    assert len(sent_events) == AUDIENCE and set(sent_events.values()) == {1}


@pytest.fixture(autouse=True)
def _short_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERALD_SHUTDOWN_GRACE_SECONDS", str(GRACE_SECONDS))


def test_a_killed_workers_claims_are_taken_over_within_a_minute(
    backend: Backend, database: Database, tmp_path: Path
) -> None:
    configure_queue(redis_url=backend.redis_url, data_dir=backend.data_dir, name=WORKER_QUEUE)
    _org_id, campaign_id = _setup(database)
    log = tmp_path / "worker.log"
    with worker_process(backend, log) as first:
        _wait_for_sends(database, campaign_id, log, 30)
        first.send_signal(signal.SIGKILL)
        first.wait()
    killed_at = time.monotonic()
    held = _sending(database, campaign_id)
    with worker_process(backend, log) as second:
        # No sweep is helped along here: the second worker's recovery finds the dead process.
        while _sending(database, campaign_id) and time.monotonic() - killed_at < DEADLINE:
            assert second.poll() is None, log.read_text()
            time.sleep(0.2)
        takeover = time.monotonic() - killed_at
        print(f"\n{held} messages claimed by the killed worker, taken over in {takeover:.1f}s")
        assert takeover < TAKEOVER_LIMIT, (_states(database, campaign_id), log.read_text())
        _wait_until_sent(database, campaign_id, log)
    _assert_each_sent_once(database, campaign_id)


def test_sigterm_drains_a_worker_and_leaves_nothing_claimed(
    backend: Backend, database: Database, tmp_path: Path
) -> None:
    configure_queue(redis_url=backend.redis_url, data_dir=backend.data_dir, name=WORKER_QUEUE)
    _org_id, campaign_id = _setup(database)
    log = tmp_path / "worker.log"
    with worker_process(backend, log) as first:
        _wait_for_sends(database, campaign_id, log, 30)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=GRACE_SECONDS + 40) == 0, log.read_text()
    status, _open, sent = _progress(database, campaign_id)
    assert status == "sending" and sent < AUDIENCE, "the campaign ended before the SIGTERM"
    # What it had claimed it finished; nothing is left for the stale sweep.
    assert _sending(database, campaign_id) == 0, _states(database, campaign_id)
    with database.transaction() as session:
        (stopped_at,) = session.execute(sa.select(Process.stopped_at)).one()
    assert stopped_at is not None
    with worker_process(backend, log) as _second:
        _wait_until_sent(database, campaign_id, log)
    _assert_each_sent_once(database, campaign_id)
