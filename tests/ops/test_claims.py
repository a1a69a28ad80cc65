"""Claims die with their process, and periodic work runs once per period however many
schedulers enqueue it (herald.system.processes, herald.worker)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from herald.db import Database, utcnow
from herald.jobs.service import find_jobs_to_kick
from herald.models import Job, Process
from herald.system import processes
from herald.worker import OncePerPeriodScheduler, claim, claim_period, huey
from tests.conftest import Backend
from tests.factories import make_org


def _running_job(database: Database, claimed_by: uuid.UUID) -> uuid.UUID:
    org = make_org()
    with database.transaction() as session:
        job = Job(
            org_id=org.org_id,
            kind="test.nothing",
            status="running",
            attempts=1,
            heartbeat_at=utcnow(),
            claimed_by=claimed_by,
        )
        session.add(job)
        session.flush()
        return job.id


def _process(database: Database, role: str, *, heartbeat_age: timedelta) -> uuid.UUID:
    with database.transaction() as session:
        process = Process(
            role=role,
            hostname="elsewhere",
            pid=1,
            heartbeat_at=utcnow() - heartbeat_age,
        )
        session.add(process)
        session.flush()
        return process.id


def _claim(database: Database, job_id: uuid.UUID) -> bool:
    with database.transaction() as session:
        return claim(session, Job, job_id, stale_after=timedelta(minutes=5))


def test_a_claim_of_a_live_process_holds(backend: Backend, database: Database) -> None:
    owner = _process(database, "worker", heartbeat_age=timedelta(seconds=5))
    job_id = _running_job(database, owner)
    assert not _claim(database, job_id)
    with database.transaction() as session:
        assert job_id not in find_jobs_to_kick(session, utcnow())


def test_a_silent_process_loses_its_claims_within_half_a_minute(
    backend: Backend, database: Database
) -> None:
    owner = _process(database, "worker", heartbeat_age=processes.STALE_AFTER + timedelta(seconds=1))
    job_id = _running_job(database, owner)
    # The row's own heartbeat is fresh: without the registry it would wait five minutes.
    with database.transaction() as session:
        assert job_id in find_jobs_to_kick(session, utcnow())
        assert processes.reap(session, utcnow()) == [owner]
        # Reaped once only: the next look finds nothing new.
        assert processes.reap(session, utcnow()) == []
    assert _claim(database, job_id)
    with database.transaction() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.attempts == 2


def test_a_stopped_process_releases_its_claims_at_once(
    backend: Backend, database: Database
) -> None:
    # Kicks wait in the queue here, rather than run inline, to be seen.
    huey._immediate = False
    huey.flush()
    registration = processes.register(database, "worker")
    try:
        job_id = _running_job(database, registration.id)
        assert not _claim(database, job_id)
    finally:
        registration.stop()
    with database.transaction() as session:
        stopped = session.get(Process, registration.id)
        assert stopped is not None and stopped.stopped_at is not None
    # Stopping kicked what it held at once, and anyone may take it.
    kicked = [huey.dequeue() for _ in range(huey.pending_count())]
    assert [task.args for task in kicked if task.name == "herald.jobs.run"] == [(str(job_id),)]
    assert _claim(database, job_id)


def test_a_new_claim_names_the_claiming_process(backend: Backend, database: Database) -> None:
    org = make_org()
    with database.transaction() as session:
        job = Job(org_id=org.org_id, kind="test.nothing")
        session.add(job)
        session.flush()
        job_id = job.id
    registration = processes.register(database, "worker")
    try:
        assert _claim(database, job_id)
        with database.transaction() as session:
            assert session.scalar(sa.select(Job.claimed_by).where(Job.id == job_id)) == (
                registration.id
            )
    finally:
        registration.stop()


def test_herald_run_takes_over_its_previous_instance_at_once(
    backend: Backend, database: Database
) -> None:
    # The previous `herald run` on this machine beat a second ago, then was killed.
    with database.transaction() as session:
        previous = Process(role="run", hostname=processes.socket.gethostname(), pid=1)
        session.add(previous)
        session.flush()
        previous_id = previous.id
    job_id = _running_job(database, previous_id)
    assert not _claim(database, job_id)
    registration = processes.register(database, "run")
    try:
        with database.transaction() as session:
            assert processes.mark_previous_instances_stopped(session, "run") == 1
        assert _claim(database, job_id)
        with database.transaction() as session:
            me = session.get(Process, registration.id)
            assert me is not None and me.stopped_at is None
    finally:
        registration.stop()


def test_each_period_is_won_once_among_racing_schedulers(
    backend: Backend, database: Database
) -> None:
    periods = [datetime(2026, 12, 7, 12, minute, tzinfo=UTC) for minute in range(10)]
    wins: list[tuple[str, datetime]] = []
    lock = threading.Lock()

    def scheduler() -> None:
        for period in periods:
            for task in ("herald.sweep", "herald.flows.dates"):
                if claim_period(database, task, period):
                    with lock:
                        wins.append((task, period))

    threads = [threading.Thread(target=scheduler) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == sorted(
        (t, p) for p in periods for t in ("herald.sweep", "herald.flows.dates")
    )


def test_two_schedulers_enqueue_each_periodic_task_once(backend: Backend) -> None:
    huey._immediate = False
    huey.flush()
    # Huey's clock is naive UTC; 12:00 is a minute every periodic task runs at (hourly ones too).
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC).replace(tzinfo=None)
    expected = {task.name for task in huey.read_periodic(now)}
    assert "herald.sweep" in expected
    first, second = (
        OncePerPeriodScheduler(huey=huey, stop_flag=threading.Event(), interval=1, periodic=True)
        for _ in range(2)
    )
    first.enqueue_periodic_tasks(now)
    second.enqueue_periodic_tasks(now.replace(second=1))
    enqueued = [huey.dequeue() for _ in range(huey.pending_count())]
    assert sorted(task.name for task in enqueued) == sorted(expected)
    # The next minute is a new period.
    second.enqueue_periodic_tasks(now + timedelta(minutes=1))
    assert huey.pending_count() >= 1
    huey.flush()
