"""Tracking events: validation limits, de-duplication, batches, the catalog, storage."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database
from herald.events.partitions import ensure_partitions, existing_partitions, partition_name
from herald.models import Event, ProfileChange
from tests.conftest import Backend
from tests.factories import make_org


def event_count(database: Database, org_id) -> int:
    with database.transaction() as session:
        return session.scalar(
            sa.select(sa.func.count()).select_from(Event).where(Event.org_id == org_id)
        )


def test_track_creates_the_profile_and_stores_the_event(client: TestClient, database) -> None:
    org = make_org()
    response = client.post(
        "/api/track",
        json={
            "event": "Placed Order",
            "profile": {"email": "Buyer@Example.com"},
            "properties": {"items": [{"sku": "A", "qty": 2}], "coupon": None},
            "value": 59.9,
            "time": "2026-03-01T12:00:00+01:00",
        },
        headers=org.public_headers,
    )
    assert response.status_code == 202
    body = response.json()
    events = client.get("/api/events", headers=org.secret_headers).json()["data"]
    assert len(events) == 1
    stored = events[0]
    assert stored["id"] == body["event_id"] and stored["profile_id"] == body["profile_id"]
    assert stored["value"] == 59.9
    assert stored["time"] == "2026-03-01T11:00:00Z"
    assert stored["properties"] == {"items": [{"sku": "A", "qty": 2}], "coupon": None}
    assert stored["source"] == "api"
    who = client.get(f"/api/profiles/{body['profile_id']}", headers=org.secret_headers).json()
    assert who["email"] == "buyer@example.com"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"properties": {f"p{i}": i for i in range(301)}}, "properties"),
        (
            {
                "properties": {
                    "deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {}}}}}}}}}}
                }
            },
            "properties",
        ),
        ({"properties": {"big": "x" * (100 * 1024 + 1)}}, "properties"),
        ({"time": "1999-12-31T23:59:59Z"}, "time"),
        ({"time": (datetime.now(UTC) + timedelta(days=400)).isoformat()}, "time"),
        ({"time": "2026-01-01T10:00:00"}, "time"),
        ({"value": "lots"}, "value"),
        ({"event": ""}, "event"),
        ({"event": "x" * 256}, "event"),
        ({"profile": {"email": "not-an-email"}}, "profile.email"),
        ({"unexpected": 1}, "unexpected"),
        ({"properties": {"note": "nul\u0000inside"}}, "properties"),
        ({"properties": {"nested": [{"k\u0000": 1}]}}, "properties"),
        ({"event": "Nul\u0000Name"}, "event"),
        ({"profile": {"external_id": "id\u0000"}}, "profile.external_id"),
    ],
)
def test_limits_are_enforced_with_field_errors(
    client: TestClient, database, change: dict, field: str
) -> None:
    org = make_org()
    body = {"event": "Viewed", "profile": {"email": "a@example.com"}, **change}
    response = client.post("/api/track", json=body, headers=org.public_headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"][0]["field"] == field
    assert event_count(database, org.org_id) == 0


def test_properties_at_the_limits_are_accepted(client: TestClient) -> None:
    org = make_org()
    nested: dict = {}
    level = nested
    for _ in range(8):  # top level + 9 nested dicts = 10 levels
        level["n"] = {}
        level = level["n"]
    properties = {f"p{i}": i for i in range(299)}
    properties["deep"] = nested
    properties["p0"] = "x" * (100 * 1024 - 2)  # 100 kB once JSON-quoted
    response = client.post(
        "/api/track",
        json={"event": "Big", "profile": {"email": "a@example.com"}, "properties": properties},
        headers=org.public_headers,
    )
    assert response.status_code == 202, response.text


def test_a_retried_batch_is_stored_exactly_once(client: TestClient, database) -> None:
    org = make_org()
    events = [
        {"event": "Viewed", "profile": {"email": f"u{i % 5}@example.com"}, "unique_id": f"ev-{i}"}
        for i in range(40)
    ]
    first = client.post("/api/track/batch", json={"events": events}, headers=org.public_headers)
    assert first.json()["accepted"] == 40 and first.json()["duplicates"] == 0
    second = client.post("/api/track/batch", json={"events": events}, headers=org.public_headers)
    assert second.json()["accepted"] == 0 and second.json()["duplicates"] == 40
    assert [r["event_id"] for r in second.json()["results"]] == [
        r["event_id"] for r in first.json()["results"]
    ]
    assert event_count(database, org.org_id) == 40
    metrics = client.get("/api/metrics", headers=org.secret_headers).json()["data"]
    assert metrics[0]["event_count"] == 40


def test_the_same_unique_id_twice_in_one_batch_is_stored_once(client: TestClient, database) -> None:
    org = make_org()
    event = {"event": "Paid", "profile": {"email": "a@example.com"}, "unique_id": "order-1"}
    response = client.post(
        "/api/track/batch", json={"events": [event, event]}, headers=org.public_headers
    )
    results = response.json()["results"]
    assert [r["duplicate"] for r in results] == [False, True]
    assert results[0]["event_id"] == results[1]["event_id"]
    assert event_count(database, org.org_id) == 1


def test_unique_ids_belong_to_their_organization(client: TestClient, database) -> None:
    first, second = make_org(), make_org()
    event = {"event": "Paid", "profile": {"email": "a@example.com"}, "unique_id": "order-1"}
    client.post("/api/track", json=event, headers=first.public_headers)
    response = client.post("/api/track", json=event, headers=second.public_headers)
    assert response.json()["duplicate"] is False
    assert event_count(database, second.org_id) == 1


def test_a_batch_stores_good_events_and_reports_bad_ones_by_index(
    client: TestClient, database
) -> None:
    org = make_org()
    events = [
        {"event": "Good", "profile": {"email": "a@example.com"}},
        {"event": "Bad", "profile": {"email": "nope"}},
        {"event": "Good", "profile": {"phone": "+44 20 7946 0958"}},
        {"profile": {"email": "a@example.com"}},
        {"event": "Bad", "profile": {"phone": "12"}},
        "not an object",
    ]
    response = client.post("/api/track/batch", json={"events": events}, headers=org.public_headers)
    assert response.status_code == 422  # the list itself must hold objects
    events[5] = {"event": "Good", "profile": {"anonymous_id": "anon"}}
    response = client.post("/api/track/batch", json={"events": events}, headers=org.public_headers)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 3
    assert [r["index"] for r in body["results"]] == [0, 2, 5]
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "events[1].profile.email"),
        (3, "events[3].event"),
        (4, "events[4].profile.phone"),
    ]
    assert event_count(database, org.org_id) == 3


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (b"not json", "body", "not valid JSON"),
        (b"", "body", "not valid JSON"),
        (b'[{"event": "A"}]', "body", 'must be a JSON object: {"events": [...]}'),
        (b'{"events": []}', "events", "List should have at least 1 item after validation, not 0"),
        (b'{"events": "x"}', "events", "Input should be a valid list"),
        (b'{"events": [{"event": "A", "profile": {}}], "extra": 1}', "extra", None),
    ],
)
def test_a_batch_that_is_not_a_batch_is_refused_as_a_whole(
    client: TestClient, database, body: bytes, field: str, reason: str | None
) -> None:
    org = make_org()
    headers = {**org.public_headers, "Content-Type": "application/json"}
    response = client.post("/api/track/batch", content=body, headers=headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"][0]["field"] == field
    if reason is not None:
        assert error["fields"][0]["reason"] == reason
    assert event_count(database, org.org_id) == 0


def test_a_batch_of_good_events_is_stored_whatever_its_content_type(
    client: TestClient, database
) -> None:
    # The body is read as JSON as it comes (as /v1/* does), so a client that labels it
    # text/plain, or not at all, is not turned away.
    org = make_org()
    event = {"event": "A", "profile": {"email": "a@example.com"}, "time": "2026-01-02T03:04:05Z"}
    for content_type in ("text/plain", None):
        headers = dict(org.public_headers)
        if content_type:
            headers["Content-Type"] = content_type
        response = client.post(
            "/api/track/batch", content=json.dumps({"events": [event]}), headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 1
    assert event_count(database, org.org_id) == 2


def test_batch_size_limits(client: TestClient, database) -> None:
    org = make_org()
    event = {"event": "E", "profile": {"email": "a@example.com"}}
    too_many = client.post(
        "/api/track/batch", json={"events": [event] * 1001}, headers=org.public_headers
    )
    assert too_many.status_code == 422
    assert too_many.json()["error"]["fields"][0]["field"] == "events"
    big = {"event": "E", "profile": {"email": "a@example.com"}, "properties": {"x": "y" * 90_000}}
    too_big = client.post(
        "/api/track/batch", json={"events": [big] * 60}, headers=org.public_headers
    )
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "too_large"
    assert event_count(database, org.org_id) == 0


def test_a_chunked_body_over_the_limit_is_refused(client: TestClient, database) -> None:
    org = make_org()
    payload = json.dumps(
        {
            "events": [
                {
                    "event": "E",
                    "profile": {"email": "a@example.com"},
                    "properties": {"x": "y" * 90_000},
                }
            ]
            * 60
        }
    ).encode()

    def chunks():
        for start in range(0, len(payload), 65536):
            yield payload[start : start + 65536]

    response = client.post(
        "/api/track/batch",
        content=chunks(),
        headers={**org.public_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert event_count(database, org.org_id) == 0


def test_the_catalog_counts_names_and_first_and_last_seen(client: TestClient) -> None:
    org = make_org()
    times = ["2026-01-05T00:00:00Z", "2025-12-01T00:00:00Z", "2026-02-01T00:00:00Z"]
    events = [
        {"event": "Opened App", "profile": {"email": "a@example.com"}, "time": t} for t in times
    ]
    events.append(
        {"event": "Placed Order", "profile": {"email": "a@example.com"}, "time": times[0]}
    )
    client.post("/api/track/batch", json={"events": events[:2]}, headers=org.public_headers)
    client.post("/api/track/batch", json={"events": events[2:]}, headers=org.public_headers)
    metrics = {
        m["name"]: m for m in client.get("/api/metrics", headers=org.secret_headers).json()["data"]
    }
    assert metrics["Opened App"]["event_count"] == 3
    assert metrics["Opened App"]["first_seen_at"] == "2025-12-01T00:00:00Z"
    assert metrics["Opened App"]["last_seen_at"] == "2026-02-01T00:00:00Z"
    assert metrics["Placed Order"]["event_count"] == 1
    other = make_org()
    assert client.get("/api/metrics", headers=other.secret_headers).json()["data"] == []


def test_ingestion_hands_changes_to_the_worker_without_running_them(
    client: TestClient, database
) -> None:
    org = make_org()
    events = [{"event": name, "profile": {"email": "a@example.com"}} for name in ("B", "A", "B")]
    response = client.post("/api/track/batch", json={"events": events}, headers=org.public_headers)
    profile_id = response.json()["results"][0]["profile_id"]
    with database.transaction() as session:
        changes = session.scalars(
            sa.select(ProfileChange).where(
                ProfileChange.org_id == org.org_id, ProfileChange.reason == "event"
            )
        ).all()
    assert [(str(c.profile_id), c.event_names) for c in changes] == [(profile_id, ["A", "B"])]
    with database.transaction() as session:
        created = session.scalars(
            sa.select(ProfileChange.profile_id).where(
                ProfileChange.org_id == org.org_id, ProfileChange.reason == "created"
            )
        ).all()
    assert [str(p) for p in created] == [profile_id]  # the new person, announced once


def test_recent_events_stream_pages_newest_first(client: TestClient) -> None:
    org = make_org()
    events = [
        {
            "event": "Tick",
            "profile": {"email": "a@example.com"},
            "time": f"2026-01-01T00:00:{s:02d}Z",
        }
        for s in range(7)
    ]
    client.post("/api/track/batch", json={"events": events}, headers=org.public_headers)
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/events", params=params, headers=org.secret_headers).json()
        seen.extend(e["time"] for e in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == 7
    bad = client.get("/api/events", params={"cursor": "garbage"}, headers=org.secret_headers)
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "cursor"


def test_ingestion_needs_a_key_and_reading_needs_a_secret_one(client: TestClient) -> None:
    org = make_org()
    body = {"event": "E", "profile": {"email": "a@example.com"}}
    assert client.post("/api/track", json=body).status_code == 401
    assert client.post("/api/track", json=body, auth=(org.public_key, "")).status_code == 202
    assert (
        client.post("/api/track", json=body, params={"api_key": org.public_key}).status_code == 202
    )
    assert client.get("/api/events", headers=org.public_headers).status_code == 403
    assert client.get("/api/metrics", headers=org.public_headers).status_code == 403


def test_events_are_partitioned_by_month_on_postgresql(
    database: Database, backend: Backend
) -> None:
    if backend.name != "postgresql":
        pytest.skip("partitioning is PostgreSQL's")
    with database.engine.connect() as connection:
        strategy = connection.execute(
            sa.text(
                "SELECT partstrat FROM pg_partitioned_table p "
                "JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = 'events'"
            )
        ).scalar()
        assert strategy == "r"
        today = datetime.now(UTC).date()
        names = existing_partitions(connection)
        assert partition_name(date(today.year, today.month, 1)) in names
        assert "events_archive" in names
    with database.engine.begin() as connection:
        far = date(today.year + 3, today.month, 1)
        created = ensure_partitions(connection, far, months_ahead=1)
        assert created == [
            partition_name(far),
            partition_name(date(far.year + far.month // 12, far.month % 12 + 1, 1)),
        ]
        assert ensure_partitions(connection, far, months_ahead=1) == []
        for name in created:  # leave the shared test database as the migration made it
            connection.execute(sa.text(f"DROP TABLE {name}"))


def test_old_history_lands_in_the_archive(client: TestClient, database, backend: Backend) -> None:
    org = make_org()
    response = client.post(
        "/api/track",
        json={
            "event": "Old",
            "profile": {"email": "a@example.com"},
            "time": "2001-06-01T00:00:00Z",
        },
        headers=org.public_headers,
    )
    assert response.status_code == 202
    assert event_count(database, org.org_id) == 1


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (gzip.compress(b"{}", mtime=0), "body", "not valid JSON"),  # compressed, unsaid
        (b"not json", "body", "not valid JSON"),
        (b"", "body", "not valid JSON"),
        (b'[{"event": "A"}]', "body", "must be a JSON object"),
        (b'{"event": "A"}', "profile", "Field required"),
        (b'{"event": "A", "profile": {}, "extra": 1}', "extra", None),
        (b'{"event": "A", "profile": {"email": "x@example.com"}, "value": "lots"}', "value", None),
    ],
)
def test_a_single_event_that_is_not_an_event_is_refused_naming_the_field(
    client: TestClient, database, body: bytes, field: str, reason: str | None
) -> None:
    org = make_org()
    headers = {**org.public_headers, "Content-Type": "application/json"}
    response = client.post("/api/track", content=body, headers=headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert [f["field"] for f in error["fields"]] == [field]
    if reason is not None:
        assert error["fields"][0]["reason"] == reason
    assert event_count(database, org.org_id) == 0


def test_a_single_event_is_stored_whatever_its_content_type(client: TestClient, database) -> None:
    org = make_org()
    for number, content_type in enumerate(("application/json", "text/plain", None)):
        headers = dict(org.public_headers)
        if content_type:
            headers["Content-Type"] = content_type
        event = {"event": "A", "profile": {"email": "a@example.com"}, "unique_id": str(number)}
        response = client.post("/api/track", content=json.dumps(event), headers=headers)
        assert response.status_code == 202, response.text
    assert event_count(database, org.org_id) == 3
