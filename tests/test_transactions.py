"""The commit boundary and enqueue-after-commit (DESIGN invariant 2), on both backends.

Services add and flush; the request dependency commits or rolls back; kicks collected during the
request are sent after the commit succeeds and dropped on rollback. These tests use the real queue
storage (Huey's SQLite store, or Redis) and look at what is actually waiting in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from herald.db import Database, get_database, on_commit, utcnow
from herald.errors import InvalidInput
from herald.jobs import service as jobs
from herald.jobs.service import KICK_GRACE, JobRun, job_handler
from herald.models import Job, Organization
from herald.tenancy import service as tenancy
from herald.tenancy.deps import DbSession
from herald.worker import configure_queue, enqueue_after_commit, huey, run_sweeps
from tests.queueing import drain, queued, use_real_queue

PASSWORD = "long enough password"

# Markers of the kicks that a worker actually executed.
KICKED: list[str] = []


@huey.task(name="tests.transactions.record_kick")
def record_kick(marker: str) -> None:
    KICKED.append(marker)


@job_handler("tests.transactions.noop")
def noop_job(run: JobRun) -> dict[str, str]:
    return {"ran": str(run.job_id)}


def add_org(session, name: str) -> None:
    session.add(Organization(name=name))
    session.flush()


def org_names(database: Database) -> set[str]:
    with database.transaction() as session:
        return set(session.scalars(sa.select(Organization.name)))


def add_route(app: FastAPI, path: str, endpoint: Callable, operation_id: str) -> None:
    app.add_api_route(path, endpoint, methods=["POST"], operation_id=operation_id)
    # The dashboard's catch-all route was registered first; put the new route before it.
    app.router.routes.insert(0, app.router.routes.pop())


# --- on_commit in a session ------------------------------------------------------------------


def test_callbacks_run_once_after_the_commit(database: Database) -> None:
    calls: list[str] = []
    session = database.sessionmaker()
    try:
        add_org(session, "first")
        on_commit(session, lambda: calls.append("first"))
        on_commit(session, lambda: calls.append("second"))
        assert calls == []
        session.commit()
        assert calls == ["first", "second"]
        # A later transaction on the same session does not run them again.
        add_org(session, "later")
        session.commit()
        assert calls == ["first", "second"]
    finally:
        session.close()
    assert org_names(database) == {"first", "later"}


def test_callbacks_never_run_on_rollback(database: Database) -> None:
    calls: list[str] = []
    with pytest.raises(RuntimeError), database.transaction() as session:
        add_org(session, "doomed")
        on_commit(session, lambda: calls.append("doomed"))
        raise RuntimeError("the request failed")
    assert calls == []
    assert org_names(database) == set()

    # Nor when the same session commits something else after an explicit rollback.
    session = database.sessionmaker()
    try:
        add_org(session, "rolled back")
        on_commit(session, lambda: calls.append("rolled back"))
        session.rollback()
        add_org(session, "kept")
        session.commit()
    finally:
        session.close()
    assert calls == []
    assert org_names(database) == {"kept"}


def test_callback_in_a_rolled_back_savepoint_is_dropped(database: Database) -> None:
    calls: list[str] = []
    with database.transaction() as session:
        add_org(session, "outer")
        on_commit(session, lambda: calls.append("outer"))
        with pytest.raises(RuntimeError), session.begin_nested():
            add_org(session, "inner")
            on_commit(session, lambda: calls.append("inner"))
            raise RuntimeError("the savepoint fails")
        on_commit(session, lambda: calls.append("after"))
        assert calls == []
    assert calls == ["outer", "after"]
    assert org_names(database) == {"outer"}


def test_releasing_a_savepoint_runs_nothing_before_the_commit(database: Database) -> None:
    calls: list[str] = []
    with pytest.raises(RuntimeError), database.transaction() as session:
        on_commit(session, lambda: calls.append("doomed"))
        with session.begin_nested():
            add_org(session, "released")
        raise RuntimeError("the request fails after the savepoint was released")
    assert calls == [], "a callback ran although its transaction rolled back"
    assert org_names(database) == set()

    with database.transaction() as session:
        on_commit(session, lambda: calls.append("kept"))
        with session.begin_nested():
            add_org(session, "released")
        assert calls == [], "a callback ran before the commit"
    assert calls == ["kept"]


def test_callback_in_a_released_savepoint_goes_with_its_enclosing_savepoint(
    database: Database,
) -> None:
    calls: list[str] = []
    with database.transaction() as session:
        add_org(session, "outer")
        with pytest.raises(RuntimeError), session.begin_nested():
            with session.begin_nested():
                add_org(session, "inner")
                on_commit(session, lambda: calls.append("inner"))
            raise RuntimeError("the enclosing savepoint fails")
    assert org_names(database) == {"outer"}
    assert calls == []


def test_a_failing_callback_neither_fails_the_commit_nor_skips_the_others(
    database: Database,
) -> None:
    calls: list[str] = []

    def explode() -> None:
        raise ConnectionError("queue unreachable")

    with database.transaction() as session:
        add_org(session, "committed")
        on_commit(session, lambda: calls.append("before"))
        on_commit(session, explode)
        on_commit(session, lambda: calls.append("after"))
    assert calls == ["before", "after"]
    assert org_names(database) == {"committed"}


# --- Through HTTP ----------------------------------------------------------------------------


def install_kick_route(app: FastAPI) -> None:
    def create_and_kick(name: str, session: DbSession, fail: bool = False) -> dict[str, str]:
        organization, _owner = tenancy.create_organization(
            session, name, f"{name}@example.com", PASSWORD
        )
        enqueue_after_commit(session, record_kick, name)
        if fail:
            raise InvalidInput.for_field("fail", "the handler was asked to fail")
        return {"id": str(organization.id)}

    add_route(app, "/api/test/kick", create_and_kick, "test_create_and_kick")


def test_a_failed_request_leaves_no_row_and_no_kick(app: FastAPI, backend) -> None:
    install_kick_route(app)
    use_real_queue(backend)
    marker = f"failed-{uuid.uuid4().hex[:8]}"
    with TestClient(app) as client:
        response = client.post("/api/test/kick", params={"name": marker, "fail": True})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"] == [
        {"field": "fail", "reason": "the handler was asked to fail"}
    ]
    assert org_names(get_database()) == set()
    assert huey.pending_count() == 0
    assert queued() == []


def test_a_successful_request_commits_the_row_and_sends_one_kick(app: FastAPI, backend) -> None:
    install_kick_route(app)
    use_real_queue(backend)
    marker = f"kept-{uuid.uuid4().hex[:8]}"
    with TestClient(app) as client:
        response = client.post("/api/test/kick", params={"name": marker})
    assert response.status_code == 200, response.text
    assert org_names(get_database()) == {marker}
    assert huey.pending_count() == 1
    assert queued() == [("tests.transactions.record_kick", (marker,))]
    # The kick is a real task that a worker can run.
    drain()
    assert marker in KICKED
    assert huey.pending_count() == 0


def test_a_kick_collected_before_a_savepoint_is_dropped_when_the_request_fails(
    app: FastAPI, backend
) -> None:
    """The order of calls in a handler must not matter: create_user uses a SAVEPOINT."""

    def kick_then_create(name: str, session: DbSession) -> None:
        enqueue_after_commit(session, record_kick, name)
        tenancy.create_organization(session, name, f"{name}@example.com", PASSWORD)
        raise InvalidInput.for_field("name", "refused after the work was done")

    add_route(app, "/api/test/kick-then-create", kick_then_create, "test_kick_then_create")
    use_real_queue(backend)
    marker = f"early-{uuid.uuid4().hex[:8]}"
    with TestClient(app) as client:
        response = client.post("/api/test/kick-then-create", params={"name": marker})
    assert response.status_code == 422, response.text
    assert org_names(get_database()) == set()
    assert queued() == []


def test_a_failing_callback_does_not_turn_a_committed_request_into_an_error(
    app: FastAPI, backend
) -> None:
    def explode() -> None:
        raise RuntimeError("post-commit work failed")

    def create_with_failing_callback(name: str, session: DbSession) -> dict[str, str]:
        organization, _owner = tenancy.create_organization(
            session, name, f"{name}@example.com", PASSWORD
        )
        on_commit(session, explode)
        enqueue_after_commit(session, record_kick, name)
        return {"id": str(organization.id)}

    add_route(app, "/api/test/failing-callback", create_with_failing_callback, "test_failing_cb")
    use_real_queue(backend)
    marker = f"committed-{uuid.uuid4().hex[:8]}"
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/api/test/failing-callback", params={"name": marker})
    assert response.status_code == 200, response.text
    assert org_names(get_database()) == {marker}
    # The callback after the failing one still ran.
    assert queued() == [("tests.transactions.record_kick", (marker,))]


def test_an_unreachable_queue_loses_only_the_kick_and_the_sweep_sends_it_again(
    app: FastAPI, backend
) -> None:
    def start_job(session: DbSession) -> dict[str, str]:
        organization = Organization(name="jobs")
        session.add(organization)
        session.flush()
        job = jobs.create_job(session, organization.id, "tests.transactions.noop")
        return {"id": str(job.id)}

    add_route(app, "/api/test/start-job", start_job, "test_start_job")
    # Nothing listens on port 1: enqueueing raises after the commit.
    configure_queue(
        redis_url="redis://127.0.0.1:1/0", data_dir=backend.data_dir, immediate=False, name="gone"
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/api/test/start-job")
    assert response.status_code == 200, response.text
    job_id = uuid.UUID(response.json()["id"])
    database = get_database()
    with database.transaction() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "pending"

    # The queue comes back; once the kick is overdue, the sweep sends it again.
    use_real_queue(backend)
    assert run_sweeps()["jobs"] == 0
    earlier = utcnow() - KICK_GRACE - timedelta(seconds=1)
    with database.transaction() as session:
        session.execute(
            sa.update(Job).where(Job.id == job_id).values(run_after=earlier, created_at=earlier)
        )
    assert run_sweeps()["jobs"] == 1
    assert queued() == [("herald.jobs.run", (str(job_id),))]
    drain()
    with database.transaction() as session:
        job = session.get(Job, job_id)
        assert job is not None
        assert job.status == "succeeded"
        assert job.result == {"ran": str(job_id)}
