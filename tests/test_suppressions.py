"""The suppression list through the API: create, read, list, delete, bulk, CSV export, the send
check, profile changes for segments, tenancy and auth."""

from __future__ import annotations

import csv
import io
import uuid

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database
from herald.messaging import suppression
from herald.models import ProfileChange, Suppression
from tests.factories import OrgFixture, make_org, make_user, sign_in
from tests.tenancy import Endpoint, assert_isolated, assert_management_only


def add(client: TestClient, org: OrgFixture, **body: object) -> dict:
    response = client.post("/api/suppressions", json=body, headers=org.secret_headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_create_normalizes_and_is_idempotent(client: TestClient, database: Database) -> None:
    org = make_org()
    created = client.post(
        "/api/suppressions",
        json={"address": "  Someone@Example.COM ", "reason": "complaint"},
        headers=org.secret_headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["address"] == "someone@example.com" and body["channel"] == "email"
    assert body["reason"] == "complaint" and body["source"] == "api"
    again = client.post(
        "/api/suppressions",
        json={"address": "someone@example.com", "reason": "unsubscribe"},
        headers=org.secret_headers,
    )
    assert again.status_code == 200 and again.json() == body  # a weaker reason changes nothing
    read = client.get(f"/api/suppressions/{body['id']}", headers=org.secret_headers)
    assert read.status_code == 200 and read.json() == body

    # A phone number without a country code is read in the organization's region (US).
    sms = add(client, org, channel="sms", address="(415) 555-0100", reason="stop", source="twilio")
    assert sms["address"] == "+14155550100" and sms["source"] == "twilio"

    for bad, field in (
        ({"address": "not-an-email"}, "address"),
        ({"channel": "sms", "address": "12"}, "address"),
        ({"address": "a@example.com", "reason": "because"}, "reason"),
        ({"address": "a@example.com", "channel": "fax"}, "channel"),
        ({"address": "a@example.com", "extra": 1}, "extra"),
        ({"address": "a\x00@example.com"}, "address"),
    ):
        response = client.post("/api/suppressions", json=bad, headers=org.secret_headers)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["fields"][0]["field"] == field
    with database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Suppression)) == 2


def test_check_used_by_sends(database: Database) -> None:
    org, other = make_org(), make_org()
    with database.transaction() as session:
        suppression.suppress(
            session, org.org_id, "email", "Gone@Example.com", reason="hard_bounce", source="test"
        )
        suppression.suppress(session, org.org_id, "sms", "+1 415 555 0101", reason="stop")
    with database.transaction() as session:
        assert suppression.is_suppressed(session, org.org_id, "email", "gone@example.com")
        assert suppression.is_suppressed(session, org.org_id, "email", " GONE@example.com")
        assert not suppression.is_suppressed(session, org.org_id, "email", "here@example.com")
        assert not suppression.is_suppressed(session, org.org_id, "sms", "gone@example.com")
        assert suppression.is_suppressed(session, org.org_id, "sms", "+14155550101")
        assert suppression.is_suppressed(session, org.org_id, "sms", "415-555-0101")
        assert not suppression.is_suppressed(session, org.org_id, "email", "garbage")
        assert suppression.suppressed_among(
            session, org.org_id, "email", ["gone@example.com", "here@example.com"]
        ) == {"gone@example.com"}
        # Another organization's list does not count.
        assert not suppression.is_suppressed(session, other.org_id, "email", "gone@example.com")


def test_list_filters_and_pages(client: TestClient) -> None:
    org = make_org()
    for index in range(7):
        add(client, org, address=f"user{index}@example.com", reason="manual")
    add(client, org, address="bounce@example.com", reason="hard_bounce")
    add(client, org, channel="sms", address="+14155550102", reason="stop")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/suppressions", params=params, headers=org.secret_headers).json()
        seen.extend(item["address"] for item in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 9 and len(set(seen)) == 9
    assert seen[0] == "+14155550102"  # newest first

    def addresses(**params: object) -> set[str]:
        response = client.get("/api/suppressions", params=params, headers=org.secret_headers)
        assert response.status_code == 200, response.text
        return {item["address"] for item in response.json()["data"]}

    assert addresses(channel="sms") == {"+14155550102"}
    assert addresses(reason="hard_bounce") == {"bounce@example.com"}
    assert addresses(address="BOUNCE@example.com") == {"bounce@example.com"}
    assert addresses(q="user1") == {"user1@example.com"}
    assert addresses(q="%") == set()
    bad = client.get("/api/suppressions", params={"cursor": "nope"}, headers=org.secret_headers)
    assert bad.status_code == 422


def test_delete_needs_admin_and_records_profile_changes(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    identified = client.post(
        "/api/identify", json={"email": "person@example.com"}, headers=org.public_headers
    )
    profile_id = uuid.UUID(identified.json()["profile_id"])

    def changes() -> int:
        with database.transaction() as session:
            return int(
                session.scalar(
                    sa.select(sa.func.count())
                    .select_from(ProfileChange)
                    .where(ProfileChange.profile_id == profile_id)
                )
                or 0
            )

    before = changes()
    entry = add(client, org, address="person@example.com", reason="unsubscribe")
    assert changes() == before + 1
    add(client, org, address="person@example.com")  # already there: no change
    assert changes() == before + 1

    email, password = make_user(org, role="member")
    sign_in(client, email, password)
    csrf = sign_in(client, email, password)
    refused = client.delete(f"/api/suppressions/{entry['id']}", headers={"X-CSRF-Token": csrf})
    assert refused.status_code == 403
    client.cookies.clear()
    deleted = client.delete(f"/api/suppressions/{entry['id']}", headers=org.secret_headers)
    assert deleted.status_code == 204
    assert changes() == before + 2
    missing = client.get(f"/api/suppressions/{entry['id']}", headers=org.secret_headers)
    assert missing.status_code == 404


def test_dashboard_users_add_with_their_source(client: TestClient) -> None:
    org = make_org()
    csrf = sign_in(client, org.owner_email)
    response = client.post(
        "/api/suppressions", json={"address": "x@example.com"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 201 and response.json()["source"] == "dashboard"
    no_csrf = client.post("/api/suppressions", json={"address": "y@example.com"})
    assert no_csrf.status_code == 403


def test_bulk_stores_good_items_and_reports_bad_ones(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    add(client, org, address="already@example.com", reason="unsubscribe")
    items: list[object] = [
        {"address": "one@example.com"},
        {"address": "not an address"},
        {"address": "Two@Example.com", "reason": "import", "source": "old-esp"},
        {"address": "two@example.com"},  # repeated in the batch
        {"address": "already@example.com", "reason": "complaint"},  # takes the stronger reason
        {"channel": "sms", "address": "+14155550103", "reason": "stop"},
        {"channel": "pigeon", "address": "x"},
        "not an object",
        {"address": "three@example.com", "reason": "unknown"},
    ]
    response = client.post(
        "/api/suppressions/bulk", json={"suppressions": items}, headers=org.secret_headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] == 3 and body["existing"] == 2
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "suppressions[1].address"),
        (6, "suppressions[6].channel"),
        (7, "suppressions[7]"),
        (8, "suppressions[8].reason"),
    ]
    with database.transaction() as session:
        rows = dict(
            session.execute(
                sa.select(Suppression.address, Suppression.reason).where(
                    Suppression.org_id == org.org_id
                )
            ).all()
        )
    assert rows == {
        "already@example.com": "complaint",
        "one@example.com": "manual",
        "two@example.com": "import",
        "+14155550103": "stop",
    }
    empty = client.post(
        "/api/suppressions/bulk", json={"suppressions": []}, headers=org.secret_headers
    )
    assert empty.status_code == 422


def test_bulk_of_ten_thousand(client: TestClient, database: Database) -> None:
    org = make_org()
    items = [{"address": f"bulk{index}@example.com"} for index in range(suppression.MAX_BULK)]
    response = client.post(
        "/api/suppressions/bulk", json={"suppressions": items}, headers=org.secret_headers
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 10_000, "existing": 0, "errors": []}
    again = client.post(
        "/api/suppressions/bulk",
        json={"suppressions": [*items[:10], {"address": "new@example.com"}]},
        headers=org.secret_headers,
    )
    assert again.json() == {"created": 1, "existing": 10, "errors": []}
    too_many = client.post(
        "/api/suppressions/bulk",
        json={"suppressions": [*items, {"address": "x@example.com"}]},
        headers=org.secret_headers,
    )
    assert too_many.status_code == 422
    with database.transaction() as session:
        count = session.scalar(
            sa.select(sa.func.count())
            .select_from(Suppression)
            .where(Suppression.org_id == org.org_id)
        )
    assert count == 10_001


def test_export_neutralizes_formula_cells(client: TestClient) -> None:
    org = make_org()
    add(client, org, address="=cmd|calc!a0@example.com", reason="manual", source="+cmd")
    add(client, org, address="plain@example.com", reason="unsubscribe", source="@SUM(A1)")
    add(client, org, channel="sms", address="+14155550104", reason="stop")
    response = client.get("/api/suppressions/export", headers=org.secret_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_address = {row["address"]: row for row in rows}
    assert set(by_address) == {
        "'=cmd|calc!a0@example.com",
        "plain@example.com",
        "'+14155550104",
    }
    assert by_address["'=cmd|calc!a0@example.com"]["source"] == "'+cmd"
    assert by_address["plain@example.com"]["source"] == "'@SUM(A1)"
    only_sms = client.get(
        "/api/suppressions/export", params={"channel": "sms"}, headers=org.secret_headers
    )
    assert len(list(csv.DictReader(io.StringIO(only_sms.text)))) == 1


def test_tenancy_and_auth(client: TestClient) -> None:
    owner, intruder = make_org(), make_org()
    entry = add(client, owner, address="private@example.com")
    assert_isolated(
        client,
        owner,
        intruder,
        entry["id"],
        [Endpoint("GET", "/api/suppressions/{id}"), Endpoint("DELETE", "/api/suppressions/{id}")],
        read_back=Endpoint("GET", "/api/suppressions/{id}"),
    )
    # Another organization's lists and exports do not show it.
    listed = client.get("/api/suppressions", headers=intruder.secret_headers).json()
    assert listed["data"] == []
    exported = client.get("/api/suppressions/export", headers=intruder.secret_headers)
    assert "private@example.com" not in exported.text
    assert_management_only(
        client,
        owner,
        entry["id"],
        [
            Endpoint("GET", "/api/suppressions"),
            Endpoint("POST", "/api/suppressions", json={"address": "a@example.com"}),
            Endpoint(
                "POST", "/api/suppressions/bulk", json={"suppressions": [{"address": "a@b.co"}]}
            ),
            Endpoint("GET", "/api/suppressions/export"),
            Endpoint("GET", "/api/suppressions/{id}"),
            Endpoint("DELETE", "/api/suppressions/{id}"),
        ],
    )
