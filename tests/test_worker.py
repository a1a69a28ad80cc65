"""The real worker: a Huey consumer on the real queue storage, and claiming rows concurrently."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from huey.consumer import Consumer
from huey.storage import RedisStorage, SqliteStorage

from herald.db import Database, utcnow
from herald.jobs.service import STALE_AFTER, JobRun, create_job, execute_job, job_handler
from herald.models import Job, Organization
from herald.worker import claim, configure_queue, huey, queue_is_reachable
from tests.queueing import use_real_queue

WAIT_SECONDS = 10

# Which thread ran each job, keyed by a token in the payload.
RAN_IN: dict[str, list[str]] = {}


@job_handler("tests.worker.where")
def where_job(run: JobRun) -> dict[str, Any]:
    RAN_IN.setdefault(run.payload["token"], []).append(threading.current_thread().name)
    with run.database.transaction() as session:
        run.save_progress(session, done=1, total=1)
    return {"token": run.payload["token"]}


class TestConsumer(Consumer):
    __test__ = False  # not a test class

    def _set_signal_handlers(self) -> None:
        # pytest owns the process's signals, as uvicorn does in `herald run`.
        pass


@contextmanager
def running_consumer() -> Iterator[TestConsumer]:
    consumer = TestConsumer(
        huey,
        workers=2,
        worker_type="thread",
        periodic=False,
        max_delay=0.2,  # poll an empty SQLite queue often, so the test need not wait
        shutdown_timeout=WAIT_SECONDS,
    )
    consumer.start()
    try:
        yield consumer
    finally:
        consumer.stop(graceful=True)


def new_org(database: Database) -> uuid.UUID:
    with database.transaction() as session:
        organization = Organization(name="Workers")
        session.add(organization)
    return organization.id


def load(database: Database, job_id: uuid.UUID) -> Job:
    with database.transaction() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def wait_for_status(database: Database, job_id: uuid.UUID, status: str) -> Job:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        job = load(database, job_id)
        if job.status == status or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_the_consumer_runs_a_committed_job(database: Database, backend) -> None:
    use_real_queue(backend)
    org_id, token = new_org(database), uuid.uuid4().hex
    with running_consumer():
        with database.transaction() as session:
            job = create_job(session, org_id, "tests.worker.where", {"token": token})
        finished = wait_for_status(database, job.id, "succeeded")
    assert finished.status == "succeeded", (finished.status, finished.error)
    assert finished.result == {"token": token}
    assert (finished.progress_done, finished.progress_total) == (1, 1)
    assert finished.attempts == 1
    # It ran once, in one of the consumer's worker threads rather than in the test.
    [thread_name] = RAN_IN[token]
    assert thread_name != threading.current_thread().name
    assert huey.pending_count() == 0


@pytest.mark.parametrize(
    ("status", "heartbeat_age", "winners"),
    [
        ("pending", None, 1),
        ("running", STALE_AFTER + timedelta(minutes=1), 1),
        ("running", timedelta(seconds=5), 0),
    ],
    ids=["pending", "stale", "heartbeating"],
)
def test_exactly_one_of_many_concurrent_claims_wins(
    database: Database, status: str, heartbeat_age: timedelta | None, winners: int
) -> None:
    org_id = new_org(database)
    heartbeat = None if heartbeat_age is None else utcnow() - heartbeat_age
    attempts = 0 if status == "pending" else 1
    with database.transaction() as session:
        job = Job(
            org_id=org_id,
            kind="tests.worker.where",
            status=status,
            attempts=attempts,
            heartbeat_at=heartbeat,
        )
        session.add(job)

    threads = 8
    barrier = threading.Barrier(threads)
    results: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def contend() -> None:
        try:
            barrier.wait(timeout=WAIT_SECONDS)
            with database.transaction() as session:
                won = claim(session, Job, job.id, stale_after=STALE_AFTER)
            with lock:
                results.append(won)
        except BaseException as exc:
            with lock:
                errors.append(exc)

    workers = [threading.Thread(target=contend) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=WAIT_SECONDS)
    assert errors == []
    assert len(results) == threads
    assert results.count(True) == winners

    claimed = load(database, job.id)
    assert claimed.status == "running"
    assert claimed.attempts == attempts + winners
    if winners:
        assert claimed.heartbeat_at is not None
        assert utcnow() - claimed.heartbeat_at < timedelta(minutes=1)


def test_a_worker_waits_for_a_concurrent_writer(database: Database, backend) -> None:
    """A kick that arrives while another connection writes (an API request, another worker)
    must wait for it, as busy_timeout promises, rather than fail and leave the job for the sweep."""
    use_real_queue(backend)
    org_id, token = new_org(database), uuid.uuid4().hex
    with database.transaction() as session:
        job = create_job(session, org_id, "tests.worker.where", {"token": token})
    huey.flush()

    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append(execute_job(database, job.id))
        except Exception as exc:
            outcome.append(exc)

    with database.engine.connect() as writer:
        transaction = writer.begin()
        writer.execute(sa.update(Organization).values(name="renamed mid-flight"))
        worker = threading.Thread(target=work)
        worker.start()
        time.sleep(0.3)
        transaction.commit()
    worker.join(timeout=WAIT_SECONDS)
    assert outcome == ["succeeded"]
    assert load(database, job.id).status == "succeeded"
    assert len(RAN_IN[token]) == 1


def test_the_queue_storage_is_reachable(backend) -> None:
    use_real_queue(backend)
    expected = RedisStorage if backend.redis_url else SqliteStorage
    assert isinstance(huey.storage, expected)
    assert queue_is_reachable() is True


def test_an_unreachable_queue_is_not_reported_reachable(backend) -> None:
    configure_queue(
        redis_url="redis://127.0.0.1:1/0", data_dir=backend.data_dir, immediate=False, name="gone"
    )
    try:
        reachable = queue_is_reachable()
    except Exception:
        reachable = False
    finally:
        use_real_queue(backend)  # the backend fixture flushes the queue afterwards
    assert reachable is False
