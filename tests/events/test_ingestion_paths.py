"""What the fast paths of ingestion must keep: text written in COPY's format and array literals
comes back exactly as sent, retried events are recognized however their person changed, and the
property limits hold at their edges."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database
from herald.events import batch as events_batch
from herald.events import people as events_people
from herald.events import service, storing
from herald.events.batch import EventInput, Outcome
from herald.events.pgtext import array_literal, copy_json, copy_text
from herald.models import Event, EventKey, Profile, ProfileChange
from herald.profiles.identity import ProfileRef
from herald.profiles.limits import MAX_FIELD_BYTES, check_properties
from tests.factories import make_org

AWKWARD = 'tab\there, newline\nthere, cr\r, backslash \\ and \\N, quote " and {braces}, ünïcödé'


def test_awkward_text_is_stored_and_read_back_as_sent(client: TestClient) -> None:
    org = make_org()
    events = [
        {
            "event": f"Name {AWKWARD}",
            "profile": {"external_id": f"ext {AWKWARD}"},
            "properties": {
                f"key {AWKWARD}": AWKWARD,
                "nested": [{"deep": AWKWARD, "n": 1.5}, None, True],
                "escaped": "\\u0000 is not a NUL, \\\\ two backslashes",
            },
            "unique_id": f"uid {AWKWARD}",
            "value": 12.5,
        },
        {"event": "Plain", "profile": {"external_id": 'odd"quote"'}, "unique_id": "x\\y"},
    ]
    response = client.post("/api/track/batch", json={"events": events}, headers=org.public_headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    stored = client.get("/api/events", headers=org.secret_headers).json()["data"]
    by_name = {event["name"]: event for event in stored}
    first = by_name[f"Name {AWKWARD}"]
    assert first["properties"] == events[0]["properties"]
    assert first["unique_id"] == f"uid {AWKWARD}"
    assert first["value"] == 12.5
    assert by_name["Plain"]["unique_id"] == "x\\y"
    # The same ids are recognized again (their look-up takes them as array literals).
    again = client.post("/api/track/batch", json={"events": events}, headers=org.public_headers)
    assert again.json()["duplicates"] == 2
    metrics = {
        m["name"] for m in client.get("/api/metrics", headers=org.secret_headers).json()["data"]
    }
    assert metrics == {f"Name {AWKWARD}", "Plain"}


def test_a_retry_is_a_duplicate_even_when_its_person_no_longer_resolves(
    client: TestClient,
) -> None:
    """The person an event named may have changed since its first delivery (here its external
    id now belongs to someone else): the retry is still answered as the duplicate it is."""
    org = make_org()
    event = {
        "event": "Paid",
        "profile": {"email": "first@example.com", "external_id": "ext-1"},
        "unique_id": "order-7",
    }
    first = client.post("/api/track", json=event, headers=org.public_headers)
    assert first.status_code == 202, first.text
    profile_id = first.json()["profile_id"]
    moved = client.patch(
        f"/api/profiles/{profile_id}", json={"external_id": "ext-2"}, headers=org.secret_headers
    )
    assert moved.status_code == 200, moved.text
    other = client.post("/api/profiles", json={"external_id": "ext-1"}, headers=org.secret_headers)
    assert other.status_code == 201, other.text
    retry = client.post("/api/track/batch", json={"events": [event]}, headers=org.public_headers)
    assert retry.status_code == 200, retry.text
    body = retry.json()
    assert body["errors"] == [] and body["duplicates"] == 1
    assert body["results"][0]["event_id"] == first.json()["event_id"]
    assert body["results"][0]["profile_id"] == profile_id
    # A new event naming the same person is refused as the conflict it is.
    event["unique_id"] = "order-8"
    fresh = client.post("/api/track/batch", json={"events": [event]}, headers=org.public_headers)
    assert [e["index"] for e in fresh.json()["errors"]] == [0]


def test_copy_text_and_array_literals_escape_what_their_formats_need() -> None:
    assert copy_text("plain") == "plain"
    assert copy_text("a\tb\nc\rd\\e") == "a\\tb\\nc\\rd\\\\e"
    assert copy_json({"k": "a\\b\n"}) == '{"k":"a\\\\\\\\b\\\\n"}'
    assert array_literal(["a", 'b"c', "d\\e", ""]) == '{"a","b\\"c","d\\\\e",""}'


@pytest.mark.parametrize(
    ("properties", "accepted"),
    [
        # JSON writes a control character in 6 bytes: 20,000 of them are 120,002 bytes.
        ({"controls": "\x01" * 20_000}, False),
        ({"controls": "\x01" * 17_000}, True),
        ({"list": ["x" * 1000] * 101}, True),  # 101,404 bytes as json.dumps writes it
        ({"list": ["x" * 1000] * 102}, False),  # 102,408
        ({"deep": [[[[[[[[[1]]]]]]]]]}, True),  # 10 levels with the top one
        ({"deep": [[[[[[[[[[1]]]]]]]]]]}, False),
        ({"nul": [{"k": "a\x00"}]}, False),
        ({"nul key": {"k\x00": 1}}, False),
    ],
)
def test_property_limits_at_their_edges(properties: dict, accepted: bool) -> None:
    if accepted:
        assert check_properties(properties) is properties
    else:
        with pytest.raises(ValueError):
            check_properties(properties)


def test_the_first_broken_limit_is_named_in_a_fixed_order() -> None:
    deep_with_nul: dict = {"a\x00": {}}
    level = deep_with_nul["a\x00"]
    for _ in range(10):
        level["n"] = {}
        level = level["n"]
    with pytest.raises(ValueError, match="nested more than"):
        check_properties({"p": deep_with_nul})
    with pytest.raises(ValueError, match=f"the limit is {MAX_FIELD_BYTES}"):
        check_properties({"big": {"k": "y" * MAX_FIELD_BYTES}})


def _stored(database: Database, org_id: uuid.UUID) -> dict[str, Any]:
    with database.transaction() as session:
        events = session.execute(
            sa.select(
                Event.id,
                Event.name,
                Event.profile_id,
                Event.properties,
                Event.value,
                Event.unique_id,
                Event.time,
                Event.source,
            ).where(Event.org_id == org_id)
        ).all()
        keys = session.execute(
            sa.select(EventKey.unique_id, EventKey.event_id, EventKey.profile_id).where(
                EventKey.org_id == org_id
            )
        ).all()
        metrics = service.list_metrics(session, org_id)
        changes = session.execute(
            sa.select(ProfileChange.profile_id, ProfileChange.reason, ProfileChange.event_names)
            .where(ProfileChange.org_id == org_id)
            .order_by(ProfileChange.id)
        ).all()
    return {
        "events": sorted(tuple(map(str, row)) for row in events),
        "keys": sorted(tuple(map(str, row)) for row in keys),
        "metrics": sorted((m.name, m.event_count) for m in metrics),
        "changes": sorted(tuple(map(str, row)) for row in changes),
    }


@pytest.mark.parametrize("small_batch", [0, 1000], ids=["copy", "one-statement"])
def test_large_and_small_batches_store_the_same(
    database: Database, monkeypatch: pytest.MonkeyPatch, small_batch: int
) -> None:
    """Batches up to SMALL_BATCH events are stored by one statement on PostgreSQL, larger ones
    with COPY: both store, count, record and answer the same (SQLite has one path)."""
    # Read by ingest and by profile resolution.
    monkeypatch.setattr(service, "SMALL_BATCH", small_batch)
    monkeypatch.setattr(events_people, "SMALL_BATCH", small_batch)
    org = make_org()
    when = datetime(2026, 10, 1, 12, tzinfo=UTC)

    def item(name: str, email: str, unique_id: str | None, **extra: Any) -> EventInput:
        return EventInput(name=name, profile=ProfileRef(email=email), unique_id=unique_id, **extra)

    first = [
        item("Viewed", "a@example.com", "u1", properties={"p": AWKWARD}, time=when),
        item("Viewed", "a@example.com", None, value=2.5),
        item("Bought", "a@example.com", "u2", time=when + timedelta(hours=1)),
        item("Viewed", "b@example.com", "u1"),  # the same id again in this batch
        item("Zebra", "b@example.com", "u3", value=1e-05),
        item("apple", "c@example.com", None),
    ]
    with database.transaction() as session:
        outcomes = service.ingest(session, org.org_id, first, requests=[0, 0, 1, 1, 2, 2])
    assert [o.duplicate for o in outcomes] == [False, False, False, True, False, False]
    assert outcomes[3].event_id == outcomes[0].event_id
    assert outcomes[3].profile_id == outcomes[0].profile_id
    with database.transaction() as session:  # a retry, with one new event
        again = service.ingest(
            session, org.org_id, [*first[:3], item("Viewed", "a@example.com", "u4")]
        )
    assert [o.duplicate for o in again] == [True, False, True, False]
    assert again[0].event_id == outcomes[0].event_id
    assert again[2].event_id == outcomes[2].event_id

    stored = _stored(database, org.org_id)
    assert len(stored["events"]) == 7 and len(stored["keys"]) == 4
    assert stored["metrics"] == [
        ("Bought", 1),
        ("Viewed", 4),
        ("Zebra", 1),
        ("apple", 1),
    ]
    a, b, c = (str(outcomes[i].profile_id) for i in (0, 4, 5))
    event_changes = sorted(row for row in stored["changes"] if row[1] == "event")
    # One change per profile per request; names sorted by code point, as Python sorts them.
    assert event_changes == sorted(
        [
            (a, "event", "['Viewed']"),
            (a, "event", "['Bought']"),
            (b, "event", "['Zebra']"),
            (c, "event", "['apple']"),
            (a, "event", "['Viewed']"),  # the retry's new event (no other event stored twice)
        ]
    )
    values = {row[1]: row for row in stored["events"] if row[4] != "None"}
    assert sorted(row[4] for row in values.values()) == ["1e-05", "2.5"]


def _large_batch(emails: list[str]) -> list[EventInput]:
    count = storing.SMALL_BATCH + 1
    return [
        EventInput(name="Viewed", profile=ProfileRef(email=emails[i % len(emails)]))
        for i in range(count)
    ]


def test_a_large_batch_commits_its_new_people_before_its_events(
    backend: Any, database: Database
) -> None:
    """New people of a large batch are committed on their own first (PostgreSQL), so that a
    concurrent batch naming them does not wait for the whole batch: they stay if it fails."""
    if backend.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time")
    org = make_org()
    with pytest.raises(RuntimeError), database.transaction() as session:
        service.ingest(session, org.org_id, _large_batch(["new@example.com"]))
        raise RuntimeError("the request fails after storing")
    with database.transaction() as session:
        people = session.scalars(sa.select(Profile.email).where(Profile.org_id == org.org_id)).all()
        events = session.scalar(
            sa.select(sa.func.count()).select_from(Event).where(Event.org_id == org.org_id)
        )
    assert people == ["new@example.com"] and events == 0
    with database.transaction() as session:  # sent again: the person is found, events stored
        outcomes = service.ingest(session, org.org_id, _large_batch(["new@example.com"]))
    assert all(o.error is None and not o.duplicate for o in outcomes)


def test_new_people_locked_by_another_open_transaction_are_created_in_the_batch(
    backend: Any,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When another open transaction holds the new person (its insert not committed yet), the
    committed creation gives up after CREATE_LOCK_TIMEOUT and the batch creates the person in
    its own transaction, waiting there as before: one person, whoever commits first."""
    if backend.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time")
    monkeypatch.setattr(events_people, "CREATE_LOCK_TIMEOUT", "100ms")
    caplog.set_level(logging.INFO, logger=events_people.__name__)
    org = make_org()
    holder = database.sessionmaker()
    try:
        (first,) = service.ingest(
            holder, org.org_id, [EventInput(name="A", profile=ProfileRef(email="x@example.com"))]
        )
        result: list[Outcome] = []

        def large_batch() -> None:
            with database.transaction() as session:
                result.extend(service.ingest(session, org.org_id, _large_batch(["x@example.com"])))

        thread = threading.Thread(target=large_batch)
        thread.start()
        time.sleep(0.6)  # past the lock timeout: the batch now waits in its own transaction
        holder.commit()
    finally:
        holder.close()
    thread.join(timeout=30)
    assert result and {o.profile_id for o in result} == {first.profile_id}
    assert "creating people in the batch's transaction" in caplog.text


def test_profiles_get_statistics_once_a_process_has_created_enough_people(
    backend: Any, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until `profiles` has statistics, PostgreSQL looks people up through the wrong index:
    after creating FirstStatistics.after people, a process makes sure it has some, once."""
    if backend.name != "postgresql":
        pytest.skip("the planner's statistics are PostgreSQL's")
    checks: list[sa.Engine] = []
    watcher = events_people.FirstStatistics(after=storing.SMALL_BATCH + 1)
    monkeypatch.setattr(watcher, "_analyze", checks.append)
    monkeypatch.setattr(events_people, "first_statistics", watcher)
    org = make_org()
    emails = [f"p{i}@example.com" for i in range(storing.SMALL_BATCH + 1)]
    with database.transaction() as session:
        service.ingest(session, org.org_id, _large_batch(emails))
    with database.transaction() as session:  # more new people: no second check
        service.ingest(session, org.org_id, _large_batch([f"q{e}" for e in emails]))
    deadline = time.monotonic() + 10
    while not checks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checks == [database.engine]

    events_people.FirstStatistics._analyze(database.engine)  # the check itself, in this thread
    with database.engine.connect() as connection:
        analyzed = connection.exec_driver_sql(
            "SELECT coalesce(last_analyze, last_autoanalyze) IS NOT NULL "
            "FROM pg_stat_user_tables WHERE relid = 'profiles'::regclass"
        ).scalar()
    assert analyzed


def test_many_known_people_are_found_alike_by_probes_and_by_one_pass(
    backend: Any, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch naming more than PROBE_KEYS people of one kind probes the identifier's index once
    profiles has statistics, and reads the organization's people in one pass before: both find
    the same people and create no one twice."""
    if backend.name != "postgresql":
        pytest.skip("the two look-ups are PostgreSQL's")
    org, other = make_org(), make_org("Other")
    count = events_people.PROBE_KEYS + 20
    emails = [f"k{i}@example.com" for i in range(count)]
    phones = [f"+1415555{i:04d}" for i in range(count)]

    def batch(with_names: list[str], kind: str) -> list[EventInput]:
        return [EventInput(name="Viewed", profile=ProfileRef(**{kind: v})) for v in with_names]

    with database.transaction() as session:  # the same people in another organization
        service.ingest(session, other.org_id, batch(emails, "email"))
    with database.transaction() as session:
        first = service.ingest(session, org.org_id, batch(emails, "email") + batch(phones, "phone"))
    people = {o.profile_id for o in first}
    assert len(people) == 2 * count
    with database.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE profiles")
    assert events_people.FirstStatistics().known(database.engine)

    used: list[str] = []
    real_rows = events_batch._pg_rows

    def spy(executor: Any, statement: str, params: Any = None) -> Any:
        used.append(statement)
        return real_rows(executor, statement, params)

    monkeypatch.setattr(events_people, "_pg_rows", spy)
    outcomes = {}
    for statistics in (False, True):
        watcher = events_people.FirstStatistics()
        monkeypatch.setattr(watcher, "known", lambda _bind, answer=statistics: answer)
        monkeypatch.setattr(events_people, "first_statistics", watcher)
        with database.transaction() as session:
            outcomes[statistics] = service.ingest(
                session, org.org_id, batch(emails, "email") + batch(phones, "phone")
            )
    assert any("LATERAL" in s and "email = k.key" in s for s in used)
    assert any("email = ANY" in s for s in used)
    for statistics in (False, True):
        assert [o.profile_id for o in outcomes[statistics]] == [o.profile_id for o in first]
    with database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Profile)) == 3 * count
