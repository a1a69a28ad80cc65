"""Portable column types, SQLite pragmas and the naming convention."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError

from herald.db import Base, Database, new_id
from herald.models import Job, Organization


def test_timestamps_refuse_naive_values(database: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"), database.transaction() as session:
        session.add(Organization(name="x", created_at=datetime(2026, 1, 1)))  # noqa: DTZ001
        session.flush()
    with database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Organization)) == 0


def test_timestamps_come_back_aware_and_in_utc(database: Database) -> None:
    berlin_noon = datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    with database.transaction() as session:
        organization = Organization(name="x", created_at=berlin_noon)
        session.add(organization)
    with database.transaction() as session:
        stored = session.get(Organization, organization.id)
        assert stored is not None
        assert stored.created_at.tzinfo is not None
        assert stored.created_at.utcoffset() == timedelta(0)
        assert stored.created_at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_json_round_trips_and_is_jsonb_on_postgresql(database: Database) -> None:
    payload = {"nested": {"list": [1, 2.5, "three", None, True]}, "unicode": "grüße"}
    with database.transaction() as session:
        organization = Organization(name="x")
        session.add(organization)
        session.flush()
        job = Job(org_id=organization.id, kind="test", payload=payload)
        session.add(job)
    with database.transaction() as session:
        stored = session.get(Job, job.id)
        assert stored is not None and stored.payload == payload
    if database.engine.dialect.name == "postgresql":
        with database.engine.connect() as connection:
            column_type = connection.execute(
                sa.text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'jobs' AND column_name = 'payload'"
                )
            ).scalar()
        assert column_type == "jsonb"


def test_sqlite_connections_carry_the_pragmas(database: Database) -> None:
    if not database.is_sqlite:
        pytest.skip("SQLite only")
    with database.engine.connect() as connection:
        pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 30_000
        assert pragma("synchronous") == 1  # NORMAL


def test_sqlite_enforces_foreign_keys(database: Database) -> None:
    with pytest.raises(sa.exc.IntegrityError), database.transaction() as session:
        session.add(Job(org_id=new_id(), kind="orphan"))
        session.flush()


def test_new_ids_are_time_ordered_uuid7() -> None:
    ids = [new_id() for _ in range(1000)]
    assert all(i.version == 7 for i in ids)
    assert len(set(ids)) == 1000
    timestamps = [i.int >> 80 for i in ids]
    assert timestamps == sorted(timestamps)


def test_every_constraint_and_index_is_named_by_the_convention() -> None:
    for table in Base.metadata.sorted_tables:
        for constraint in table.constraints:
            assert constraint.name, f"{table.name} has an unnamed constraint"
        for index in table.indexes:
            assert index.name and index.name.startswith(("ix_", "uq_")), index.name


def test_a_transaction_gets_its_turn_while_another_thread_writes_back_to_back(
    database: Database,
) -> None:
    # An import commits batch after batch on one thread; a request on another thread must get
    # in between two of them, not wait until the import ends (on SQLite, where every
    # transaction holds the write lock, this once took tens of seconds and then failed).
    with database.transaction() as session:
        organization = Organization(name="busy")
        session.add(organization)
    stop = threading.Event()
    batches = 0

    def write_back_to_back() -> None:
        nonlocal batches
        while not stop.is_set():
            with database.transaction() as session:
                session.add_all(
                    Job(org_id=organization.id, kind="test", payload={}) for _ in range(20)
                )
                session.flush()
                time.sleep(0.02)  # the rest of a batch's work, lock held
            batches += 1

    writer = threading.Thread(target=write_back_to_back)
    writer.start()
    try:
        while batches < 3:
            time.sleep(0.01)
        waits = []
        for _ in range(5):
            started = time.monotonic()
            with database.transaction() as session:
                session.add(Organization(name="between"))
            waits.append(time.monotonic() - started)
            time.sleep(0.01)
    finally:
        stop.set()
        writer.join()
    # Each waited for at most the batch in progress (20 ms of sleep, a little work).
    assert max(waits) < 0.5, waits
