"""A real `herald worker` process is killed with SIGKILL in the middle of a campaign; a new one
finishes it. Every eligible recipient ends with exactly one message, sent exactly once (one `sent`
event, one outbox file), and the campaign is `sent` only once every recipient row is final.

It runs on both backends: PostgreSQL with Redis as the queue (production's separate worker
processes), and SQLite with the SQLite queue file in the data directory (a worker process beside
`herald serve` on one machine).

The dead worker's messages in `sending` are picked up again once their heartbeat is older than
five minutes (email STALE_AFTER), and lost kicks once the sweep runs (every minute). Rather than
wait, the test ages the dead worker's heartbeats and runs the sweep with a clock five minutes
ahead, which is exactly what the sweep would do later.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from bench.smtpsink import start_sink
from herald.campaigns import lifecycle, service
from herald.campaigns.statuses import OPEN_RECIPIENT_STATUSES
from herald.db import Database, utcnow
from herald.email import configuration, schemas
from herald.email.batch import STALE_AFTER
from herald.email.tasks import kick_waiting_messages
from herald.messaging import ledger
from herald.models import (
    Campaign,
    CampaignRecipient,
    EmailSettings,
    EmailTemplate,
    Message,
    MessageEvent,
    Profile,
    Segment,
    SegmentMember,
)
from herald.worker import configure_queue
from tests.conftest import WORKER, Backend
from tests.factories import make_org
from tests.processes import default_sigint

# Ten of the worker's send batches (email BATCH_SIZE, 200): with four threads, the few batches of
# a smaller audience could all commit between the first sighting of a sent message and the kill.
AUDIENCE = 2000
# Seconds each worker gets; generous for a loaded machine (the test ends as soon as it is done).
DEADLINE = 240


# The `herald worker` processes' queue: its own per pytest-xdist worker, since parallel tests share
# one Redis, and a worker taking another test's kicks drops them (their rows are not in its
# database), which left messages waiting minutes for the sweep.
WORKER_QUEUE = f"herald-workers-{WORKER}"


def _worker_env(backend: Backend) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HERALD_DATABASE_URL=backend.database_url,
        HERALD_REDIS_URL=backend.redis_url or "",
        HERALD_QUEUE_NAME=WORKER_QUEUE,
        HERALD_DATA_DIR=str(backend.data_dir),
        HERALD_LOG_LEVEL="warning",
    )
    return env


@contextmanager
def worker_process(backend: Backend, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "herald", "worker", "--workers", "4"],
            env=_worker_env(backend),
            cwd=backend.data_dir,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=default_sigint,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _setup(database: Database, smtp_port: int | None = None) -> tuple[uuid.UUID, uuid.UUID]:
    """An organization sending to the outbox, or over SMTP to `smtp_port` on loopback, and a
    campaign to AUDIENCE people, started."""
    org = make_org()
    with database.transaction() as session:
        if smtp_port is None:
            session.add(
                EmailSettings(
                    org_id=org.org_id,
                    provider="outbox",
                    default_from_email="shop@acme.example",
                    postal_address="1 Harbour Street, Portsmouth",
                )
            )
        else:
            configuration.update(
                session,
                org.org_id,
                schemas.EmailSettingsUpdate(
                    provider="smtp",
                    smtp=schemas.SmtpSettingsUpdate(
                        host="127.0.0.1", port=smtp_port, security="none", timeout=30
                    ),
                    default_from_email="shop@acme.example",
                    postal_address="1 Harbour Street, Portsmouth",
                ),
            )
        template = EmailTemplate(
            org_id=org.org_id,
            name="News",
            subject="News for {{ profile.first_name }}",
            body="<p>Hi</p>",
            compiled_html='<html><body><p>Hi {{ profile.first_name }}</p><a href="'
            '{{ unsubscribe_url }}">Unsubscribe</a></body></html>',
        )
        segment = Segment(org_id=org.org_id, name="All", definition={"conditions": []})
        session.add_all([template, segment])
        session.flush()
        profiles = [
            Profile(org_id=org.org_id, email=f"r{i}@example.com", first_name=f"R{i}")
            for i in range(AUDIENCE)
        ]
        session.add_all(profiles)
        session.flush()
        session.add_all(
            SegmentMember(segment_id=segment.id, profile_id=p.id, org_id=org.org_id)
            for p in profiles
        )
        campaign = service.create_campaign(
            session,
            org.org_id,
            {
                "name": "Big",
                "template_id": template.id,
                "include_segment_ids": [segment.id],
            },
        )
        # The snapshot job's kick goes to the worker's queue.
        lifecycle.send_now(session, org.org_id, campaign.id)
    return org.org_id, campaign.id


def kill_worker_when(backend: Backend, log: Path, reached: Callable[[], bool]) -> None:
    """Start a `herald worker`, wait until `reached()` (its work under way), and SIGKILL it."""
    with worker_process(backend, log) as first:
        deadline = time.monotonic() + DEADLINE
        while not reached():
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.002)
        first.send_signal(signal.SIGKILL)
        first.wait()


def finish_after_kill(
    backend: Backend,
    database: Database,
    log: Path,
    done: Callable[[], bool],
    progress: Callable[[], object],
) -> None:
    """Five minutes later, as far as the dead worker's claims and lost kicks are concerned: its
    claims' heartbeats are aged past STALE_AFTER, and a second worker runs, with the sweep run
    a few minutes ahead every 3 s, until `done()` (`progress()` says where it stood if not)."""
    with database.transaction() as session:
        session.execute(
            sa.update(Message)
            .where(Message.status == ledger.SENDING)
            .values(heartbeat_at=utcnow() - STALE_AFTER - timedelta(minutes=1))
        )
    with worker_process(backend, log) as second:
        deadline = time.monotonic() + DEADLINE
        sweep_at = 0.0
        while not done():
            if time.monotonic() >= sweep_at:
                with database.transaction() as session:
                    kick_waiting_messages(session, utcnow() + STALE_AFTER + timedelta(minutes=2))
                sweep_at = time.monotonic() + 3
            assert second.poll() is None, log.read_text()
            assert time.monotonic() < deadline, (progress(), log.read_text())
            time.sleep(0.1)


def _progress(database: Database, campaign_id: uuid.UUID) -> tuple[str, int, int]:
    """The campaign's status, its open recipients and its sent messages, in one statement."""
    open_recipients = (
        sa.select(sa.func.count())
        .select_from(CampaignRecipient)
        .where(
            CampaignRecipient.campaign_id == campaign_id,
            CampaignRecipient.status.in_(OPEN_RECIPIENT_STATUSES),
        )
        .scalar_subquery()
    )
    sent = (
        sa.select(sa.func.count())
        .select_from(Message)
        .where(Message.source_id == campaign_id, Message.status == ledger.SENT)
        .scalar_subquery()
    )
    # A plain read: Herald's own transactions take SQLite's write lock (BEGIN IMMEDIATE), and
    # polling for it against a busy worker process could see the campaign only after its end.
    with _reader(database).connect() as connection:
        status, still_open, done = connection.execute(
            sa.select(Campaign.status, open_recipients, sent).where(Campaign.id == campaign_id)
        ).one()
    return str(status), int(still_open), int(done)


_readers: dict[str, sa.Engine] = {}


def _reader(database: Database) -> sa.Engine:
    url = database.engine.url.render_as_string(hide_password=False)
    if url not in _readers:
        _readers[url] = sa.create_engine(url)
    return _readers[url]


def test_a_killed_worker_sends_nothing_twice_and_nothing_is_lost(
    backend: Backend, database: Database, tmp_path: Path
) -> None:
    # The worker process uses the default queue name (in this test's own data directory on
    # SQLite); kicks from here must reach it.
    configure_queue(redis_url=backend.redis_url, data_dir=backend.data_dir, name=WORKER_QUEUE)
    org_id, campaign_id = _setup(database)
    log = tmp_path / "worker.log"

    # Watch the whole run: whenever the campaign is `sent`, no recipient may still be open.
    violations: list[tuple[str, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            status, still_open, _ = _progress(database, campaign_id)
            if status == "sent" and still_open:
                violations.append((status, still_open))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        kill_worker_when(backend, log, lambda: _progress(database, campaign_id)[2] >= 30)
        status, still_open, sent_at_kill = _progress(database, campaign_id)
        at_kill = _states(database, campaign_id)
        assert status == "sending" and still_open > 0, at_kill
        assert sent_at_kill < AUDIENCE
        finish_after_kill(
            backend,
            database,
            log,
            lambda: _progress(database, campaign_id)[0] == "sent",
            lambda: _progress(database, campaign_id),
        )
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert violations == [], at_kill

    with database.transaction() as session:
        recipients = list(
            session.scalars(
                sa.select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id)
            )
        )
        campaign_messages = list(
            session.scalars(sa.select(Message).where(Message.source_id == campaign_id))
        )
        sent_events = dict(
            session.execute(
                sa.select(MessageEvent.message_id, sa.func.count())
                .where(
                    MessageEvent.message_id.in_([m.id for m in campaign_messages]),
                    MessageEvent.kind == ledger.SENT,
                )
                .group_by(MessageEvent.message_id)
            ).all()
        )
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.finished_at is not None
    assert len(recipients) == AUDIENCE
    assert {r.status for r in recipients} == {ledger.SENT}
    assert len(campaign_messages) == AUDIENCE
    assert {m.profile_id for m in campaign_messages} == {r.profile_id for r in recipients}
    assert {r.message_id for r in recipients} == {m.id for m in campaign_messages}
    assert {m.status for m in campaign_messages} == {ledger.SENT}
    assert len(sent_events) == AUDIENCE and set(sent_events.values()) == {1}
    assert max(m.sent_at for m in campaign_messages if m.sent_at) <= campaign.finished_at
    outbox = backend.data_dir / "outbox" / str(org_id)
    # A write the kill interrupted may leave a temporary file; stored messages are the .eml ones.
    files = sorted(p.name for p in outbox.glob("*.eml"))
    assert files == sorted(f"{m.id}.eml" for m in campaign_messages)
    # Some messages were sent by each worker, or the kill proved nothing.
    assert 0 < sent_at_kill < AUDIENCE


def _states(database: Database, campaign_id: uuid.UUID) -> dict[str, int]:
    with database.transaction() as session:
        rows = session.execute(
            sa.select(Message.status, sa.func.count())
            .where(Message.source_id == campaign_id)
            .group_by(Message.status)
        ).all()
        recipients = session.execute(
            sa.select(CampaignRecipient.status, sa.func.count())
            .where(CampaignRecipient.campaign_id == campaign_id)
            .group_by(CampaignRecipient.status)
        ).all()
    return {**{f"m.{s}": c for s, c in rows}, **{f"r.{s}": c for s, c in recipients}}


# Worker threads of the killed `herald worker`: each holds at most one open SMTP connection.
WORKER_THREADS = 4


def test_a_killed_sender_re_sends_at_most_the_message_in_flight_per_smtp_connection(
    backend: Backend, database: Database, tmp_path: Path
) -> None:
    """SMTP has no idempotency: a message the server took whose outcome the sender had not yet
    recorded when it died is sent again. Each accepted message is recorded before the next goes
    out on its connection, so a kill -9 mid-campaign re-sends at most one message per open
    connection (the worker's threads), not the messages of a batch's last second (27 of 1,000
    recipients when outcomes were recorded per batch)."""
    configure_queue(redis_url=backend.redis_url, data_dir=backend.data_dir, name=WORKER_QUEUE)
    sink = start_sink()
    try:
        _org_id, campaign_id = _setup(database, smtp_port=sink.port)
        log = tmp_path / "worker.log"
        kill_worker_when(backend, log, lambda: sink.received >= 300)
        received_at_kill = sink.received
        assert _progress(database, campaign_id)[0] == "sending"
        assert received_at_kill < AUDIENCE
        finish_after_kill(
            backend,
            database,
            log,
            lambda: _progress(database, campaign_id)[0] == "sent",
            lambda: _progress(database, campaign_id),
        )
        summary = sink.take()
    finally:
        sink.stop()
    re_sent = summary["herald_ids"] - summary["distinct_herald_ids"]
    print(f"kill -9 after {received_at_kill} of {AUDIENCE} messages: {re_sent} sent twice")
    assert summary["distinct_herald_ids"] == AUDIENCE, summary
    assert summary["distinct_recipients"] == AUDIENCE, summary
    assert re_sent <= WORKER_THREADS, summary
