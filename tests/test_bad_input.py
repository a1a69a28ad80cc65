"""Bad input that an outside probe found answering 500 or storing what it should refuse: each is a
4xx naming the field, and changes nothing, on both databases. A batch keeps its good items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from herald.db import Database
from herald.models import Event, Profile, Segment
from herald.routing import JsonBodyRoute
from herald.validation import MAX_JSON_DEPTH
from tests.factories import OrgFixture, make_org
from tests.test_imports import accepted_job, error_rows, upload_events

SEGMENT_ROUTES = ["track", "identify", "page", "screen", "group", "alias", "batch"]
# A lone surrogate as JSON writes it: valid JSON text, but no character any database stores.
LONE_SURROGATE = '"\\ud800"'
# Where with_bad() puts a value that json.dumps would not write.
BAD = "__bad__"


def with_bad(body: Any, literal: str) -> str:
    """`body` as JSON text with `literal` (raw JSON, such as NaN) where it holds BAD."""
    return json.dumps(body).replace(json.dumps(BAD), literal)


@pytest.fixture
def server(app: FastAPI) -> Iterator[TestClient]:
    """A client that sees a 500 as an answer, as an outside caller does, instead of an exception."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def org(app: FastAPI) -> OrgFixture:
    return make_org()


def post(
    client: TestClient, path: str, body: str | bytes, headers: dict[str, str]
) -> dict[str, Any]:
    response = client.post(
        path, content=body, headers={**headers, "Content-Type": "application/json"}
    )
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
    answer: dict[str, Any] = response.json()
    return answer


def fields(answer: dict[str, Any]) -> dict[str, str]:
    return {f["field"]: f["reason"] for f in answer["error"]["fields"]}


def counts(database: Database) -> tuple[int, int, int]:
    with database.transaction() as session:
        return (
            session.scalar(sa.select(sa.func.count()).select_from(Event)) or 0,
            session.scalar(sa.select(sa.func.count()).select_from(Profile)) or 0,
            session.scalar(sa.select(sa.func.count()).select_from(Segment)) or 0,
        )


def deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def test_every_route_reads_its_json_body_by_one_rule(app: FastAPI) -> None:
    routes = [r for r in app.routes if isinstance(r, APIRoute)]
    assert routes
    assert [r.path for r in routes if not isinstance(r, JsonBodyRoute)] == []


# --- 1. Deep nesting -----------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_deeply_nested_json_is_a_4xx_everywhere(
    server: TestClient, org: OrgFixture, database: Database, levels: int
) -> None:
    body = deep(levels)
    public = org.public_headers
    for path in [
        "/api/track",
        "/api/track/batch",
        "/api/identify",
        *(f"/v1/{route}" for route in SEGMENT_ROUTES),
        *(f"/v1/{route[0]}" for route in SEGMENT_ROUTES),
    ]:
        answer = post(server, path, body, public)
        assert answer["error"]["fields"], (path, answer)
    for path in ["/api/profiles", "/api/segments", "/api/templates"]:
        answer = post(server, path, body, org.secret_headers)
        assert list(fields(answer).values()) == [f"nested more than {MAX_JSON_DEPTH} levels deep"]
    # Inside a batch, the deep event alone is refused.
    batch = (
        '{"events": [{"event": "Kept", "profile": {"email": "a@example.com"}}, '
        '{"event": "Deep", "profile": {"email": "b@example.com"}, "properties": '
        + deep(MAX_JSON_DEPTH + 1)
        + "}]}"
    )
    answer = server.post("/api/track/batch", content=batch, headers=public).json()
    assert answer["accepted"] == 1
    assert [e["index"] for e in answer["errors"]] == [1]
    assert counts(database) == (1, 1, 0)


# --- 2. Lone surrogates --------------------------------------------------------------------------


def test_a_lone_surrogate_is_a_field_error_and_a_batch_keeps_its_good_events(
    server: TestClient, org: OrgFixture, database: Database
) -> None:
    good = {"event": "Kept", "profile": {"email": "kept@example.com"}}
    bad = {"event": "Lost", "profile": {"email": "bad@example.com"}, "properties": {"x": BAD}}
    batch = with_bad({"events": [good, bad]}, LONE_SURROGATE)
    response = server.post("/api/track/batch", content=batch, headers=org.public_headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == 1
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [(1, "events[1].properties.x")]
    assert "surrogate" in answer["errors"][0]["reason"]

    segment_batch = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "Kept too"},
            {"type": "track", "userId": "u2", "event": "E", "properties": {"x": BAD}},
        ]
    }
    response = server.post(
        "/v1/batch", content=with_bad(segment_batch, LONE_SURROGATE), headers=org.public_headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert [e["field"] for e in response.json()["errors"]] == ["batch[1].properties.x"]
    assert counts(database) == (2, 2, 0)

    public, secret = org.public_headers, org.secret_headers
    identify = {"profile": {"email": "i@example.com"}}
    condition = {"type": "profile", "property": "x", "operator": "equals", "value": BAD}
    refused = [
        ("/api/track", bad, public, "properties.x"),
        ("/api/identify", {**identify, "properties": {"x": BAD}}, public, "properties.x"),
        ("/api/identify", {**identify, "first_name": BAD}, public, "first_name"),
        ("/v1/track", {"userId": "u3", "event": BAD}, public, "event"),
        ("/v1/identify", {"userId": "u3", "traits": {"x": BAD}}, public, "traits.x"),
        ("/v1/identify", {"userId": "u3", "traits": {"y": [1, {"z": BAD}]}}, public,
         "traits.y[1].z"),
        ("/api/profiles", {"email": "p@example.com", "properties": {"x": BAD}}, secret,
         "properties.x"),
        ("/api/segments", {"name": "S", "definition": {"conditions": [condition]}}, secret,
         "definition.conditions[0].value"),
        ("/api/segments", {"name": BAD, "definition": {"conditions": []}}, secret, "name"),
    ]  # fmt: skip
    for path, body, headers, field in refused:
        answer = post(server, path, with_bad(body, LONE_SURROGATE), headers)
        assert field in fields(answer), (path, answer)
    # A property name with one, and the character sent as raw bytes (which a lenient UTF-8
    # decoder lets through).
    answer = post(server, "/v1/identify", '{"userId": "u", "traits": {"\\udfff": 1}}', public)
    assert list(fields(answer).values()) == [
        "the name must not contain a lone surrogate (U+D800 to U+DFFF)"
    ]
    raw = b'{"profile": {"email": "r@example.com"}, "properties": {"x": "\xed\xa0\x80"}}'
    post(server, "/api/identify", raw, public)
    assert counts(database) == (2, 2, 0)

    profile = server.post(
        "/api/profiles", json={"email": "patched@example.com"}, headers=secret
    ).json()
    response = server.patch(
        f"/api/profiles/{profile['id']}",
        content=with_bad({"properties": {"x": BAD}}, LONE_SURROGATE),
        headers={**secret, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert "properties.x" in fields(response.json())
    stored = server.get(f"/api/profiles/{profile['id']}", headers=secret).json()
    assert stored["properties"] == {}


def test_an_event_import_reports_the_line_with_a_lone_surrogate_and_stores_the_rest(
    client: TestClient, org: OrgFixture, database: Database
) -> None:
    reader = {"email": "a@example.com"}
    lines = [
        {"event": "First", "profile": reader},
        with_bad({"event": "Bad", "profile": reader, "properties": {"x": BAD}}, LONE_SURROGATE),
        {"event": "Third", "profile": reader},
    ]
    job = accepted_job(client, org, upload_events(client, org, lines))
    assert job["status"] == "succeeded", job["error"]
    assert job["result"] == {"rows": 3, "stored": 2, "duplicates": 0, "errors": 1}
    _header, *rows = error_rows(client, org, job["id"])
    assert [(r[0], r[1]) for r in rows] == [("2", "properties.x")]
    assert counts(database)[0] == 2


# --- 3. NUL in Segment's event names and message ids --------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"userId": "u1", "event": "Nul\u0000Name"}, "event"),
        ({"userId": "u1", "event": "E", "messageId": "m\u00001"}, "messageId"),
        ({"userId": "u\u00001", "event": "E"}, "userId"),
    ],
)
def test_nul_is_refused_by_the_segment_routes_as_by_track(
    server: TestClient, org: OrgFixture, database: Database, body: dict[str, Any], field: str
) -> None:
    answer = post(server, "/v1/track", json.dumps(body), org.public_headers)
    assert field in fields(answer)
    response = server.post(
        "/v1/batch", json={"batch": [{"type": "track", **body}]}, headers=org.public_headers
    )
    assert response.status_code == 200
    assert [e["field"] for e in response.json()["errors"]] == [f"batch[0].{field}"]
    assert counts(database) == (0, 0, 0)


# --- 4. NaN, Infinity and numbers beyond a float ------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_refused_not_stored_as_null(
    server: TestClient, org: OrgFixture, database: Database, number: str
) -> None:
    public, secret = org.public_headers, org.secret_headers
    event = {"event": "E", "profile": {"email": "n@example.com"}, "properties": {"x": BAD}}
    for path, body, headers in [
        ("/api/track", event, public),
        ("/api/identify", {"profile": {"email": "n@example.com"}, "properties": {"x": BAD}},
         public),
        ("/v1/track", {"userId": "u", "event": "E", "properties": {"x": [BAD]}}, public),
        ("/api/profiles", {"email": "n@example.com", "properties": {"x": BAD}}, secret),
        ("/api/profiles", {"email": "n@example.com", "location": {"latitude": BAD}}, secret),
    ]:  # fmt: skip
        answer = post(server, path, with_bad(body, number), headers)
        assert any(f.startswith(("properties", "location")) for f in fields(answer)), answer
    batch = server.post(
        "/api/track/batch", content=with_bad({"events": [event]}, number), headers=public
    ).json()
    assert batch["accepted"] == 0
    assert [e["field"] for e in batch["errors"]] == ["events[0].properties.x"]
    assert counts(database) == (0, 0, 0)


# --- 5. Bodies that are not JSON -----------------------------------------------------------------


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b"nul", b'{"a": 1,}', b"{'a': 1}"])
def test_unparsable_bodies_name_the_body_on_every_route(
    server: TestClient, org: OrgFixture, database: Database, body: bytes
) -> None:
    for path, headers in [
        ("/api/identify", org.public_headers),
        ("/api/profiles", org.secret_headers),
        ("/api/segments", org.secret_headers),
        ("/api/track", org.public_headers),
        ("/api/track/batch", org.public_headers),
        ("/v1/identify", org.public_headers),
    ]:
        answer = post(server, path, body, headers)
        assert fields(answer) == {"body": "not valid JSON"}, (path, answer)
    assert counts(database) == (0, 0, 0)
