"""The profile list's count, field/property filter and search, the suggested values of a field
or property, and each message's engagement on the timeline."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from herald.db import Database
from herald.messaging import tracking
from herald.profiles import service
from tests.factories import OrgFixture, make_org
from tests.test_tracking import HUMAN, make_message, path


def create(client: TestClient, org: OrgFixture, **body: Any) -> dict[str, Any]:
    response = client.post("/api/profiles", json=body, headers=org.secret_headers)
    assert response.status_code == 201, response.text
    return response.json()


def emails(client: TestClient, org: OrgFixture, **params: Any) -> list[str]:
    response = client.get("/api/profiles", params=params, headers=org.secret_headers)
    assert response.status_code == 200, response.text
    return sorted(p["email"] for p in response.json()["data"])


def people(client: TestClient, org: OrgFixture) -> None:
    create(
        client,
        org,
        email="b1@example.com",
        location={"city": "Berlin", "country": "DE"},
        properties={"plan": "pro", "seats": 12},
    )
    create(
        client,
        org,
        email="b2@example.com",
        location={"city": "berlin", "country": "DE"},
        properties={"plan": "free", "seats": 2},
    )
    create(
        client,
        org,
        email="p@example.com",
        location={"city": "Paris", "country": "FR"},
        properties={"plan": "pro", "note": "moved from Berlin"},
    )
    create(client, org, email="x@example.com", properties={"nested": {"city": "Berlin"}})


def test_search_finds_cities_and_custom_property_values(client: TestClient) -> None:
    org = make_org()
    people(client, org)
    assert emails(client, org, q="Berlin") == ["b1@example.com", "b2@example.com", "p@example.com"]
    assert emails(client, org, q="fr") == ["b2@example.com", "p@example.com"]  # free, FR
    # Keys are not values: "plan" is nobody's value.
    assert emails(client, org, q="plan") == []
    assert emails(client, org, q="100%") == []


def test_filter_by_field_or_property_compares_as_segments_do(client: TestClient) -> None:
    org = make_org()
    people(client, org)
    assert emails(client, org, field="country", op="equals", value="DE") == [
        "b1@example.com",
        "b2@example.com",
    ]
    assert emails(client, org, field="city", op="starts_with", value="Pa") == ["p@example.com"]
    assert emails(client, org, property="plan", op="equals", value="pro") == [
        "b1@example.com",
        "p@example.com",
    ]
    assert emails(
        client, org, property="seats", op="greater_than", value="5", value_type="number"
    ) == ["b1@example.com"]
    assert emails(client, org, property="plan", op="in", value="free, pro") == [
        "b1@example.com",
        "b2@example.com",
        "p@example.com",
    ]
    assert emails(client, org, property="note", op="is_set") == ["p@example.com"]
    for params, field in (
        ({"field": "shoe_size", "value": "4"}, "field"),
        (
            {"property": "seats", "op": "greater_than", "value": "many", "value_type": "number"},
            "value",
        ),
        ({"property": "plan", "op": "equals"}, "value"),
        ({"field": "city", "property": "plan", "value": "x"}, "property"),
        ({"field": "city", "op": "bigger", "value": "x"}, "op"),
        ({"q": "a\x00b"}, "q"),
        ({"property": "a\x00", "op": "is_set"}, "property"),
    ):
        response = client.get("/api/profiles", params=params, headers=org.secret_headers)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["fields"][0]["field"] == field, params


def test_count_is_exact_up_to_a_bound(client: TestClient, database: Database) -> None:
    org = make_org()
    people(client, org)
    response = client.get("/api/profiles/count", headers=org.secret_headers)
    assert response.json() == {"count": 4, "exact": True}
    response = client.get("/api/profiles/count", params={"q": "berlin"}, headers=org.secret_headers)
    assert response.json() == {"count": 3, "exact": True}
    with database.transaction() as session:
        where = service.ProfileFilter()
        assert service.count_profiles(session, org.org_id, where, bound=3) == (3, False)
        assert service.count_profiles(session, org.org_id, where, bound=4) == (4, True)
    other = make_org("Other")
    assert client.get("/api/profiles/count", headers=other.secret_headers).json()["count"] == 0


def test_suggested_values_of_a_field_or_property(client: TestClient, database: Database) -> None:
    org = make_org()
    people(client, org)
    create(client, org, email="b3@example.com", location={"city": "Berlin"})

    def values(**params: Any) -> list[tuple[str, int]]:
        response = client.get(
            "/api/profiles/property-values", params=params, headers=org.secret_headers
        )
        assert response.status_code == 200, response.text
        return [(v["value"], v["count"]) for v in response.json()["data"]]

    assert values(field="city") == [("Berlin", 2), ("Paris", 1), ("berlin", 1)]
    assert values(field="city", prefix="be") == [("Berlin", 2), ("berlin", 1)]
    assert values(field="city", prefix="Be", limit=1) == [("Berlin", 2)]
    assert values(property="plan") == [("pro", 2), ("free", 1)]
    assert values(property="seats") == [("12", 1), ("2", 1)]
    assert values(property="missing") == []
    with database.transaction() as session:
        newest = service.property_values(
            session, org.org_id, field="city", property_name=None, prefix="", limit=5, sample=1
        )
        assert newest == [("Berlin", 1)]  # only the newest profile is read
    other = make_org("Other")
    response = client.get(
        "/api/profiles/property-values", params={"field": "city"}, headers=other.secret_headers
    )
    assert response.json() == {"data": []}
    for params, field in (
        ({}, "field"),
        ({"field": "shoe_size"}, "field"),
        ({"property": " "}, "property"),
        ({"field": "city", "limit": 0}, "limit"),
        ({"field": "city", "prefix": "a\x00"}, "prefix"),
    ):
        response = client.get(
            "/api/profiles/property-values", params=params, headers=org.secret_headers
        )
        assert response.status_code == 422, params
        assert response.json()["error"]["fields"][0]["field"] == field, params


def test_timeline_counts_each_messages_engagement(client: TestClient, database: Database) -> None:
    org = make_org()
    person = create(client, org, email="reader@example.com")
    message_id = make_message(database, org, "reader@example.com", uuid.UUID(person["id"]))
    opened = path(tracking.open_url(message_id))
    client.get(opened, headers=HUMAN)
    client.get(opened, headers=HUMAN)
    client.get(opened, headers={"User-Agent": "Mozilla/5.0"})  # a proxy: not counted
    timeline = client.get(
        f"/api/profiles/{person['id']}/timeline", headers=org.secret_headers
    ).json()
    [entry] = [e for e in timeline["data"] if e["kind"] == "message"]
    assert entry["engagement"] == {
        "opened": 2,
        "clicked": 0,
        "unsubscribed": 0,
        "bounced": 0,
        "complained": 0,
    }
