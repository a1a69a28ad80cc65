"""The profile management API: create, read, update, list, timeline, erase, export."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database
from herald.models import AnonymousId, Event, Profile
from tests.factories import make_org, make_user, sign_in
from tests.tenancy import Endpoint, assert_isolated, assert_management_only


def create(client: TestClient, org, **body) -> dict:
    response = client.post("/api/profiles", json=body, headers=org.secret_headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_normalizes_and_validates(client: TestClient) -> None:
    org = make_org()
    created = create(
        client,
        org,
        email=" Ada@Example.COM ",
        phone="(415) 555-0100",
        external_id="c-1",
        first_name="Ada",
        timezone="Europe/London",
        location={"city": "London", "country": "GB", "latitude": 51.5},
        properties={"vip": True},
    )
    assert created["email"] == "ada@example.com"
    assert created["phone"] == "+14155550100"
    assert created["location"]["city"] == "London" and created["location"]["zip"] is None
    assert created["anonymous"] is False
    bad = client.post(
        "/api/profiles",
        json={"email": "x@example.com", "timezone": "Mars/Olympus", "location": {"latitude": 91}},
        headers=org.secret_headers,
    )
    assert bad.status_code == 422
    assert {f["field"] for f in bad.json()["error"]["fields"]} == {"timezone", "location.latitude"}
    assert (
        client.post(
            "/api/profiles", json={"first_name": "x"}, headers=org.secret_headers
        ).status_code
        == 422
    )
    nul = client.post(
        "/api/identify",
        json={"email": "n@example.com", "first_name": "A\u0000"},
        headers=org.public_headers,
    )
    assert nul.status_code == 422 and nul.json()["error"]["fields"][0]["field"] == "first_name"


def test_identifiers_are_unique_per_organization(client: TestClient) -> None:
    org, other = make_org(), make_org()
    create(client, org, email="same@example.com")
    duplicate = client.post(
        "/api/profiles", json={"email": "same@example.com"}, headers=org.secret_headers
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["fields"][0]["field"] == "email"
    create(client, other, email="same@example.com")  # another organization may have it


def test_update_merges_properties_unsets_keys_and_clears_fields(client: TestClient) -> None:
    org = make_org()
    created = create(
        client, org, email="a@example.com", first_name="A", properties={"a": 1, "b": 2, "c": 3}
    )
    response = client.patch(
        f"/api/profiles/{created['id']}",
        json={"properties": {"b": 20, "d": 4}, "unset": ["c", "missing"], "first_name": None},
        headers=org.secret_headers,
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["properties"] == {"a": 1, "b": 20, "d": 4}
    assert updated["first_name"] is None
    assert updated["email"] == "a@example.com"  # not sent, not touched
    taken = create(client, org, email="taken@example.com")
    clash = client.patch(
        f"/api/profiles/{created['id']}",
        json={"email": "taken@example.com"},
        headers=org.secret_headers,
    )
    assert clash.status_code == 409
    assert client.get(f"/api/profiles/{taken['id']}", headers=org.secret_headers).status_code == 200


def test_list_filters_and_pages(client: TestClient) -> None:
    org = make_org()
    ids = [
        create(
            client,
            org,
            email=f"p{i}@example.com",
            properties={"tier": "gold" if i % 2 else "silver", "n": i},
        )["id"]
        for i in range(7)
    ]
    create(client, org, phone="+14155550199", external_id="ext-1", first_name="Zed")
    pages, cursor = [], None
    while True:
        params = {"limit": 3, "q": "example.com", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/profiles", params=params, headers=org.secret_headers).json()
        pages.append([p["id"] for p in page["data"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == list(reversed(ids))  # newest first

    def ids_for(**params) -> set[str]:
        response = client.get("/api/profiles", params=params, headers=org.secret_headers)
        assert response.status_code == 200, response.text
        return {p["id"] for p in response.json()["data"]}

    assert ids_for(email="P3@example.com") == {ids[3]}
    assert len(ids_for(phone="415 555 0199")) == 1
    assert len(ids_for(external_id="ext-1")) == 1
    assert ids_for(property_name="tier", property_value="gold") == {ids[1], ids[3], ids[5]}
    assert ids_for(property_name="n", property_value="4") == {ids[4]}
    assert len(ids_for(q="zed")) == 1
    assert len(ids_for(created_after="2000-01-01T00:00:00Z")) == 8
    assert ids_for(created_before="2000-01-01T00:00:00Z") == set()
    bad = client.get("/api/profiles", params={"property_name": "tier"}, headers=org.secret_headers)
    assert bad.status_code == 422


def test_timeline_shows_events_newest_first(client: TestClient) -> None:
    org = make_org()
    created = create(client, org, email="t@example.com")
    events = [
        {
            "event": f"E{i}",
            "profile": {"id": created["id"]},
            "time": f"2026-02-0{i + 1}T00:00:00Z",
            "value": i,
        }
        for i in range(5)
    ]
    client.post("/api/track/batch", json={"events": events}, headers=org.public_headers)
    first = client.get(
        f"/api/profiles/{created['id']}/timeline", params={"limit": 3}, headers=org.secret_headers
    ).json()
    assert [e["name"] for e in first["data"]] == ["E4", "E3", "E2"]
    rest = client.get(
        f"/api/profiles/{created['id']}/timeline",
        params={"cursor": first["next_cursor"]},
        headers=org.secret_headers,
    ).json()
    assert [e["name"] for e in rest["data"]] == ["E1", "E0"] and rest["next_cursor"] is None
    assert rest["data"][0]["kind"] == "event" and rest["data"][0]["value"] == 1


def test_timeline_merges_messages_with_events(client: TestClient) -> None:
    org = make_org()
    created = create(client, org, email="m@example.com")
    client.post(
        "/api/track",
        json={
            "event": "Signed Up",
            "profile": {"id": created["id"]},
            "time": "2026-01-01T00:00:00Z",
        },
        headers=org.public_headers,
    )
    sent = client.post(
        "/api/messages/email",
        json={
            "to": {"profile_id": created["id"]},
            "subject": "Welcome aboard",
            "html": "<p>Hello</p>",
        },
        headers=org.secret_headers,
    )
    assert sent.status_code == 202, sent.text
    first = client.get(
        f"/api/profiles/{created['id']}/timeline", params={"limit": 1}, headers=org.secret_headers
    ).json()
    assert [(e["kind"], e["name"]) for e in first["data"]] == [("message", "Welcome aboard")]
    assert first["data"][0]["properties"]["status"] == "sent"
    rest = client.get(
        f"/api/profiles/{created['id']}/timeline",
        params={"cursor": first["next_cursor"]},
        headers=org.secret_headers,
    ).json()
    assert [(e["kind"], e["name"]) for e in rest["data"]] == [("event", "Signed Up")]


def test_delete_erases_the_person_and_their_events(client: TestClient, database: Database) -> None:
    org = make_org()
    known = client.post(
        "/api/identify", json={"email": "gone@example.com"}, headers=org.public_headers
    ).json()
    client.post(
        "/api/track",
        json={"event": "E", "profile": {"anonymous_id": "dev-1"}},
        headers=org.public_headers,
    )
    client.post(
        "/api/identify",
        json={"email": "gone@example.com", "anonymous_id": "dev-1"},
        headers=org.public_headers,
    )
    client.post(
        "/api/track",
        json={"event": "F", "profile": {"email": "gone@example.com"}, "unique_id": "u1"},
        headers=org.public_headers,
    )
    keep = create(client, org, email="stays@example.com")
    assert (
        client.delete(
            f"/api/profiles/{known['profile_id']}", headers=org.secret_headers
        ).status_code
        == 204
    )
    assert (
        client.get(f"/api/profiles/{known['profile_id']}", headers=org.secret_headers).status_code
        == 404
    )
    with database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(AnonymousId)) == 0
        emails = set(session.scalars(sa.select(Profile.email)))
    assert emails == {"stays@example.com"}
    assert client.get(f"/api/profiles/{keep['id']}", headers=org.secret_headers).status_code == 200
    # The same person can come back as a new profile, and their old unique_id no longer collides.
    again = client.post(
        "/api/track",
        json={"event": "F", "profile": {"email": "gone@example.com"}, "unique_id": "u1"},
        headers=org.public_headers,
    )
    assert again.json()["duplicate"] is False


def test_members_cannot_erase_profiles(client: TestClient) -> None:
    org = make_org()
    created = create(client, org, email="a@example.com")
    email, password = make_user(org, "member")
    csrf = sign_in(client, email, password)
    response = client.delete(f"/api/profiles/{created['id']}", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 403


def test_export_returns_everything_about_the_person(client: TestClient) -> None:
    org = make_org()
    client.post(
        "/api/track",
        json={"event": "Browse", "profile": {"anonymous_id": "anon-x"}},
        headers=org.public_headers,
    )
    known = client.post(
        "/api/identify",
        json={"email": "me@example.com", "anonymous_id": "anon-x", "properties": {"k": "v"}},
        headers=org.public_headers,
    ).json()
    data = client.get(
        f"/api/profiles/{known['profile_id']}/export", headers=org.secret_headers
    ).json()
    assert data["profile"]["email"] == "me@example.com"
    assert data["profile"]["properties"] == {"k": "v"}
    assert data["anonymous_ids"] == ["anon-x"]
    assert [e["name"] for e in data["events"]] == ["Browse"]
    assert len(data["merged_profile_ids"]) == (1 if known["merged_profile_ids"] else 0)


def test_csv_export_streams_every_profile_and_neutralizes_formulas(client: TestClient) -> None:
    org = make_org()
    create(
        client,
        org,
        email="safe@example.com",
        first_name='=HYPERLINK("http://x")',
        last_name="@SUM(1)",
    )
    create(
        client, org, external_id="+cmd", first_name="-2+3", last_name="\tTab", properties={"x": 1}
    )
    create(client, org, external_id="plain", first_name="\rCR")
    response = client.get("/api/profiles/export", headers=org.secret_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 3
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    by_external = {r["external_id"]: r for r in rows}
    assert by_external["'+cmd"]["first_name"] == "'-2+3"
    filtered = client.get(
        "/api/profiles/export", params={"email": "safe@example.com"}, headers=org.secret_headers
    )
    assert len(list(csv.DictReader(io.StringIO(filtered.text)))) == 1


def test_csv_export_searches_as_the_list_does(client: TestClient) -> None:
    """The dashboard's Export CSV passes the list's search (`q`): both give the same people."""
    org = make_org()
    create(client, org, email="grace@navy.example", first_name="Grace", last_name="Hopper")
    create(client, org, external_id="HOP-7")
    create(client, org, phone="+14155550142", first_name="Ada")
    for q in ("hop", "GRACE HOP", "555014", "nobody"):
        listed = client.get("/api/profiles", params={"q": q}, headers=org.secret_headers)
        exported = client.get("/api/profiles/export", params={"q": q}, headers=org.secret_headers)
        assert exported.status_code == 200, exported.text
        rows = csv.DictReader(io.StringIO(exported.text))
        assert {row["id"] for row in rows} == {p["id"] for p in listed.json()["data"]}, q
    hop = client.get("/api/profiles/export", params={"q": "hop"}, headers=org.secret_headers)
    assert len(list(csv.DictReader(io.StringIO(hop.text)))) == 2


def test_profiles_are_isolated_between_organizations(client: TestClient) -> None:
    owner, intruder = make_org(), make_org()
    created = create(client, owner, email="private@example.com")
    endpoints = [
        Endpoint("GET", "/api/profiles/{id}"),
        Endpoint("PATCH", "/api/profiles/{id}", {"first_name": "pwned"}),
        Endpoint("DELETE", "/api/profiles/{id}"),
        Endpoint("GET", "/api/profiles/{id}/timeline"),
        Endpoint("GET", "/api/profiles/{id}/export"),
    ]
    assert_isolated(
        client, owner, intruder, created["id"], endpoints, Endpoint("GET", "/api/profiles/{id}")
    )
    assert_management_only(
        client,
        owner,
        created["id"],
        [*endpoints, Endpoint("GET", "/api/profiles"), Endpoint("GET", "/api/profiles/export")],
    )
    listed = client.get("/api/profiles", headers=intruder.secret_headers).json()["data"]
    assert listed == []
    exported = client.get("/api/profiles/export", headers=intruder.secret_headers).text
    assert "private@example.com" not in exported
