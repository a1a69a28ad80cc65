"""Jobs end to end (DESIGN invariant 3): rows before kicks, claims, checkpoints, retries, the
sweep, and the HTTP API."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database, get_database, utcnow
from herald.errors import Conflict
from herald.jobs.service import (
    KICK_GRACE,
    STALE_AFTER,
    JobFailed,
    JobRun,
    create_job,
    execute_job,
    job_handler,
)
from herald.jobs.tasks import run_job
from herald.models import Job, Organization
from herald.worker import huey, run_sweeps
from tests.factories import make_org
from tests.queueing import drain, queued, use_real_queue

# What the handlers did, keyed by a token each test puts in the payload.
CALLS: Counter[str] = Counter()
STARTS: defaultdict[str, list[int]] = defaultdict(list)
CRASHED: set[str] = set()

# The side effects of the batch job: one row per processed item, never two.
ITEMS = sa.Table(
    "test_job_items",
    sa.MetaData(),
    sa.Column("job_id", sa.String(36), primary_key=True),
    sa.Column("item", sa.Integer, primary_key=True),
)


@job_handler("tests.jobs.count")
def count_job(run: JobRun) -> dict[str, Any]:
    CALLS[run.payload["token"]] += 1
    total = run.payload.get("total", 3)
    with run.database.transaction() as session:
        run.save_progress(session, done=total, total=total)
    return {"counted": total}


@job_handler("tests.jobs.batches")
def batch_job(run: JobRun) -> dict[str, Any]:
    token = run.payload["token"]
    total, size = run.payload["items"], run.payload["batch"]
    start = (run.checkpoint or {}).get("next", 0)
    STARTS[token].append(start)
    for first in range(start, total, size):
        batch = range(first, min(first + size, total))
        with run.database.transaction() as session:
            session.execute(
                sa.insert(ITEMS), [{"job_id": str(run.job_id), "item": item} for item in batch]
            )
            if first == run.payload["crash_at"] and token not in CRASHED:
                CRASHED.add(token)
                raise RuntimeError("worker died mid-batch")
            run.save_progress(
                session, done=batch.stop, total=total, checkpoint={"next": batch.stop}
            )
    return {"items": total}


@job_handler("tests.jobs.reject")
def reject_job(run: JobRun) -> None:
    CALLS[run.payload["token"]] += 1
    raise JobFailed("the file has no email column")


@job_handler("tests.jobs.flaky")
def flaky_job(run: JobRun) -> None:
    CALLS[run.payload["token"]] += 1
    raise RuntimeError("upstream is down")


# --- Helpers ---------------------------------------------------------------------------------


def new_token() -> str:
    return uuid.uuid4().hex


def new_org(database: Database) -> uuid.UUID:
    with database.transaction() as session:
        organization = Organization(name="Jobs")
        session.add(organization)
    return organization.id


def start(database: Database, org_id: uuid.UUID, kind: str, **payload: Any) -> uuid.UUID:
    with database.transaction() as session:
        job = create_job(session, org_id, kind, payload)
    return job.id


def load(database: Database, job_id: uuid.UUID) -> Job:
    with database.transaction() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def set_columns(database: Database, job_id: uuid.UUID, **values: Any) -> None:
    with database.transaction() as session:
        session.execute(sa.update(Job).where(Job.id == job_id).values(**values))


def overdue(database: Database, job_id: uuid.UUID) -> None:
    """Move the job's time back as if its kick (or its retry delay) was long overdue."""
    earlier = utcnow() - KICK_GRACE - timedelta(seconds=1)
    set_columns(database, job_id, run_after=earlier, created_at=earlier)


@pytest.fixture
def items_table(database: Database) -> Iterator[None]:
    ITEMS.create(database.engine, checkfirst=True)
    yield
    ITEMS.drop(database.engine, checkfirst=True)


# --- Running -------------------------------------------------------------------------------------


def test_a_committed_job_runs_and_records_its_result_and_progress(database: Database) -> None:
    org_id, token = new_org(database), new_token()
    job_id = start(database, org_id, "tests.jobs.count", token=token, total=7)
    job = load(database, job_id)
    assert job.status == "succeeded"
    assert job.result == {"counted": 7}
    assert (job.progress_done, job.progress_total) == (7, 7)
    assert job.attempts == 1
    assert job.error is None
    assert job.started_at is not None and job.finished_at is not None
    assert job.started_at <= job.finished_at
    assert CALLS[token] == 1


def test_a_job_that_crashes_midway_resumes_from_its_checkpoint(
    database: Database, items_table: None
) -> None:
    org_id, token = new_org(database), new_token()
    job_id = start(
        database, org_id, "tests.jobs.batches", token=token, items=10, batch=3, crash_at=6
    )

    job = load(database, job_id)
    assert job.status == "pending"
    assert job.attempts == 1
    assert "worker died mid-batch" in (job.error or "")
    # The two committed batches and their checkpoint survived; the crashed batch left nothing.
    assert job.progress_done == 6
    with database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ITEMS)) == 6

    # The retry waits for its delay, then the sweep kicks it.
    assert run_sweeps()["jobs"] == 0
    set_columns(database, job_id, run_after=utcnow() - timedelta(seconds=1))
    assert run_sweeps()["jobs"] == 1

    job = load(database, job_id)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    assert job.result == {"items": 10}
    assert (job.progress_done, job.progress_total) == (10, 10)
    assert job.error is None
    assert STARTS[token] == [0, 6]
    with database.transaction() as session:
        items = session.scalars(sa.select(ITEMS.c.item).where(ITEMS.c.job_id == str(job_id)))
        assert sorted(items) == list(range(10))
    assert run_sweeps()["jobs"] == 0


def test_job_failed_ends_the_job_without_retries(database: Database) -> None:
    org_id, token = new_org(database), new_token()
    job_id = start(database, org_id, "tests.jobs.reject", token=token)
    job = load(database, job_id)
    assert job.status == "failed"
    assert job.error == "the file has no email column"
    assert job.finished_at is not None
    overdue(database, job_id)
    assert run_sweeps()["jobs"] == 0
    assert execute_job(database, job_id) == "not-claimed"
    assert CALLS[token] == 1


def test_a_job_of_unknown_kind_fails(database: Database) -> None:
    job_id = start(database, new_org(database), "tests.jobs.nobody-handles-this")
    job = load(database, job_id)
    assert job.status == "failed"
    assert "tests.jobs.nobody-handles-this" in (job.error or "")


def test_a_job_gives_up_after_max_attempts(database: Database) -> None:
    org_id, token = new_org(database), new_token()
    with database.transaction() as session:
        job = create_job(session, org_id, "tests.jobs.flaky", {"token": token})
        job.max_attempts = 2
    job_id = job.id
    assert load(database, job_id).status == "pending"
    for _ in range(2):
        overdue(database, job_id)
        assert run_sweeps()["jobs"] == 1
    job = load(database, job_id)
    assert job.status == "failed"
    assert "upstream is down" in (job.error or "")
    assert "gave up" in (job.error or "")
    assert job.finished_at is not None
    assert CALLS[token] == 2
    overdue(database, job_id)
    assert run_sweeps()["jobs"] == 0


# --- Kicks, claims and the sweep -------------------------------------------------------------


def test_the_kick_is_sent_after_the_commit_and_not_on_rollback(database: Database, backend) -> None:
    use_real_queue(backend)
    org_id = new_org(database)
    with pytest.raises(RuntimeError), database.transaction() as session:
        create_job(session, org_id, "tests.jobs.count", {"token": new_token()})
        raise RuntimeError("the caller failed")
    assert huey.pending_count() == 0
    with database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0

    with database.transaction() as session:
        job = create_job(session, org_id, "tests.jobs.count", {"token": new_token()})
        assert huey.pending_count() == 0
    assert queued() == [("herald.jobs.run", (str(job.id),))]


def test_jobs_created_together_are_kicked_only_after_the_commit(
    database: Database, backend
) -> None:
    use_real_queue(backend)
    org_id = new_org(database)
    with pytest.raises(RuntimeError), database.transaction() as session:
        create_job(session, org_id, "tests.jobs.count", {"token": new_token()})
        create_job(session, org_id, "tests.jobs.count", {"token": new_token()})
        raise RuntimeError("the caller failed")
    assert queued() == []


def test_a_scheduled_job_waits_for_its_time(database: Database, backend) -> None:
    use_real_queue(backend)
    org_id, token = new_org(database), new_token()
    later = utcnow() + timedelta(hours=1)
    with database.transaction() as session:
        job = create_job(session, org_id, "tests.jobs.count", {"token": token}, run_after=later)
    [kick] = huey.pending()
    assert (kick.name, tuple(kick.args)) == ("herald.jobs.run", (str(job.id),))
    assert abs(kick.eta.replace(tzinfo=later.tzinfo) - later) < timedelta(seconds=1)
    # A worker that takes the kick early parks it in the schedule instead of running it.
    drain()
    assert huey.pending_count() == 0
    assert huey.scheduled_count() == 1
    assert execute_job(database, job.id) == "skipped"
    assert load(database, job.id).status == "pending"
    assert CALLS[token] == 0


def test_a_job_runs_once_however_often_it_is_kicked(database: Database, backend) -> None:
    use_real_queue(backend)
    org_id, token = new_org(database), new_token()
    job_id = start(database, org_id, "tests.jobs.count", token=token)
    run_job(str(job_id))  # a duplicate kick, as the sweep may send
    assert queued() == [("herald.jobs.run", (str(job_id),))] * 2
    drain()
    assert CALLS[token] == 1
    assert execute_job(database, job_id) == "not-claimed"
    assert CALLS[token] == 1
    job = load(database, job_id)
    assert job.status == "succeeded"
    assert job.attempts == 1


def test_dedupe_key_refuses_a_second_active_job(database: Database, backend) -> None:
    use_real_queue(backend)
    org_id = new_org(database)
    payload = {"token": new_token()}
    with database.transaction() as session:
        first = create_job(session, org_id, "tests.jobs.count", payload, dedupe_key="segment:1")
    with pytest.raises(Conflict), database.transaction() as session:
        create_job(session, org_id, "tests.jobs.count", payload, dedupe_key="segment:1")
    # The refusal spoils only the savepoint: the caller's other work still commits.
    with database.transaction() as session:
        with pytest.raises(Conflict):
            create_job(session, org_id, "tests.jobs.count", payload, dedupe_key="segment:1")
        other = create_job(session, org_id, "tests.jobs.count", payload, dedupe_key="segment:2")
    assert sorted(queued()) == sorted(
        [("herald.jobs.run", (str(first.id),)), ("herald.jobs.run", (str(other.id),))]
    )
    with database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 2

    drain()
    assert load(database, first.id).status == "succeeded"
    with database.transaction() as session:
        again = create_job(session, org_id, "tests.jobs.count", payload, dedupe_key="segment:1")
    assert again.id != first.id
    assert queued() == [("herald.jobs.run", (str(again.id),))]


def test_the_sweep_reruns_a_job_whose_worker_died(database: Database, backend) -> None:
    use_real_queue(backend)
    org_id, token = new_org(database), new_token()
    job_id = start(database, org_id, "tests.jobs.count", token=token)
    huey.flush()
    # A worker claimed it and is still heartbeating: nobody else may take it.
    recent = utcnow() - STALE_AFTER + timedelta(minutes=1)
    set_columns(database, job_id, status="running", attempts=1, heartbeat_at=recent)
    assert run_sweeps()["jobs"] == 0
    assert execute_job(database, job_id) == "not-claimed"
    assert CALLS[token] == 0

    # The worker died: its heartbeat went stale.
    set_columns(database, job_id, heartbeat_at=utcnow() - STALE_AFTER - timedelta(minutes=1))
    assert run_sweeps()["jobs"] == 1
    assert queued() == [("herald.jobs.run", (str(job_id),))]
    drain()
    job = load(database, job_id)
    assert job.status == "succeeded"
    assert job.attempts == 2
    assert CALLS[token] == 1


def test_the_sweep_resends_a_lost_kick(database: Database, backend) -> None:
    use_real_queue(backend)
    org_id, token = new_org(database), new_token()
    job_id = start(database, org_id, "tests.jobs.count", token=token)
    assert huey.pending_count() == 1
    huey.flush()  # Redis lost its data, or the kick was never sent
    assert huey.pending_count() == 0
    # Within the grace period the original kick may still be on its way.
    assert run_sweeps()["jobs"] == 0
    overdue(database, job_id)
    assert run_sweeps()["jobs"] == 1
    assert queued() == [("herald.jobs.run", (str(job_id),))]
    drain()
    assert load(database, job_id).status == "succeeded"
    assert CALLS[token] == 1
    assert run_sweeps()["jobs"] == 0


# --- HTTP ----------------------------------------------------------------------------------------


def test_get_job_shows_progress_to_its_organization_only(client: TestClient) -> None:
    org, other = make_org("Owner"), make_org("Other")
    job_id = start(get_database(), org.org_id, "tests.jobs.count", token=new_token(), total=4)

    response = client.get(f"/api/jobs/{job_id}", headers=org.secret_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == str(job_id)
    assert body["kind"] == "tests.jobs.count"
    assert body["status"] == "succeeded"
    assert (body["progress_done"], body["progress_total"]) == (4, 4)
    assert body["result"] == {"counted": 4}
    assert body["attempts"] == 1

    intruder = client.get(f"/api/jobs/{job_id}", headers=other.secret_headers)
    assert intruder.status_code == 404
    assert intruder.json()["error"]["code"] == "not_found"
    missing = client.get(f"/api/jobs/{uuid.uuid4()}", headers=org.secret_headers)
    assert missing.status_code == 404
    public = client.get(f"/api/jobs/{job_id}", headers=org.public_headers)
    assert public.status_code == 403
    anonymous = client.get(f"/api/jobs/{job_id}")
    assert anonymous.status_code == 401


def test_cancel_a_pending_job(client: TestClient) -> None:
    org, other = make_org("Owner"), make_org("Other")
    database = get_database()
    token = new_token()
    with database.transaction() as session:
        job = create_job(
            session,
            org.org_id,
            "tests.jobs.count",
            {"token": token},
            run_after=utcnow() + timedelta(hours=1),
        )
    url = f"/api/jobs/{job.id}/cancel"

    assert client.post(url, headers=other.secret_headers).status_code == 404
    assert client.post(url, headers=org.public_headers).status_code == 403
    assert client.post(url).status_code == 401
    assert load(database, job.id).status == "pending"

    response = client.post(url, headers=org.secret_headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"] is not None

    again = client.post(url, headers=org.secret_headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"

    # A kick that arrives later does not run it.
    overdue(database, job.id)
    assert run_sweeps()["jobs"] == 0
    assert execute_job(database, job.id) == "not-claimed"
    assert load(database, job.id).status == "cancelled"
    assert CALLS[token] == 0
