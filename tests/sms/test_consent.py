"""Consent with its evidence: recorded through the API, identify, imports and the SDK's call;
the history kept, the current status derived from it, and the one rule that segments read."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from herald.db import Database
from herald.segments import service as segments
from tests.factories import OrgFixture, make_org
from tests.tenancy import Endpoint, assert_isolated


def create_profile(client: TestClient, org: OrgFixture, **body: Any) -> str:
    response = client.post("/api/profiles", json=body, headers=org.secret_headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def consent_of(client: TestClient, org: OrgFixture, profile_id: str) -> dict[str, Any]:
    response = client.get(f"/api/profiles/{profile_id}/consent", headers=org.secret_headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def record(client: TestClient, org: OrgFixture, profile_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(
        f"/api/profiles/{profile_id}/consent", json=body, headers=org.secret_headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_history_is_kept_and_the_latest_record_decides(client: TestClient) -> None:
    org = make_org()
    profile_id = create_profile(client, org, email="ada@example.com", phone="+14155550101")
    before = consent_of(client, org, profile_id)
    # Email may be sent until withdrawn; SMS needs consent given expressly.
    assert before["email"]["status"] == "none" and before["email"]["can_receive_marketing"]
    assert before["sms"]["status"] == "none" and not before["sms"]["can_receive_marketing"]

    given = record(
        client,
        org,
        profile_id,
        channel="sms",
        status="subscribed",
        method="form",
        text="Yes, text me offers. Msg & data rates may apply. Reply STOP to opt out.",
        ip_address="203.0.113.7",
        user_agent="Mozilla/5.0",
        page_url="https://shop.example.com/signup",
    )
    assert given["sms"]["status"] == "subscribed" and given["sms"]["can_receive_marketing"]
    (evidence,) = given["history"]
    assert evidence["method"] == "form" and evidence["ip_address"] == "203.0.113.7"
    assert evidence["address"] == "+14155550101"
    assert evidence["consent_text"].startswith("Yes, text me offers")

    # An older record (say, from an import of last year's list) joins the history only.
    late = record(
        client,
        org,
        profile_id,
        channel="sms",
        status="unsubscribed",
        method="import",
        at="2020-01-01T00:00:00Z",
    )
    assert late["sms"]["status"] == "subscribed" and len(late["history"]) == 2

    withdrawn = record(client, org, profile_id, channel="sms", status="unsubscribed")
    assert withdrawn["sms"]["status"] == "unsubscribed"
    assert not withdrawn["sms"]["can_receive_marketing"]
    assert [r["status"] for r in withdrawn["history"]] == [
        "unsubscribed",
        "subscribed",
        "unsubscribed",
    ]
    assert withdrawn["history"][0]["method"] == "api"


def test_bad_consent_is_refused_and_changes_nothing(client: TestClient) -> None:
    org = make_org()
    profile_id = create_profile(client, org, phone="+14155550101")
    for body in (
        {"channel": "fax", "status": "subscribed"},
        {"channel": "sms", "status": "maybe"},
        {"channel": "sms", "status": "subscribed", "ip_address": "not an address"},
        {"channel": "sms", "status": "subscribed", "at": "2026-01-01T00:00:00"},
        {"channel": "sms", "status": "subscribed", "method": "telepathy"},
    ):
        response = client.post(
            f"/api/profiles/{profile_id}/consent", json=body, headers=org.secret_headers
        )
        assert response.status_code == 422, body
        assert response.json()["error"]["fields"], response.text
    assert consent_of(client, org, profile_id)["history"] == []


def test_identify_with_a_public_key_keeps_the_browser_as_evidence(client: TestClient) -> None:
    org = make_org()
    response = client.post(
        "/api/identify",
        json={
            "phone": "(415) 555-0199",
            "consent": {
                "sms": {
                    "status": "subscribed",
                    "text": "Text me",
                    "page_url": "https://shop.example.com/",
                }
            },
        },
        headers={**org.public_headers, "User-Agent": "TestBrowser/1.0"},
    )
    assert response.status_code == 200, response.text
    state = consent_of(client, org, response.json()["profile_id"])
    (evidence,) = state["history"]
    assert evidence["method"] == "form" and evidence["source"] == "sdk"
    assert evidence["user_agent"] == "TestBrowser/1.0" and evidence["ip_address"]
    assert evidence["address"] == "+14155550199"
    assert state["sms"]["can_receive_marketing"]


def test_profile_create_and_update_record_consent(client: TestClient) -> None:
    org = make_org()
    profile_id = create_profile(
        client,
        org,
        email="ada@example.com",
        consent={"email": {"status": "unsubscribed", "method": "dashboard"}},
    )
    assert not consent_of(client, org, profile_id)["email"]["can_receive_marketing"]
    response = client.patch(
        f"/api/profiles/{profile_id}",
        json={"phone": "+14155550101", "consent": {"sms": {"status": "subscribed"}}},
        headers=org.secret_headers,
    )
    assert response.status_code == 200, response.text
    state = consent_of(client, org, profile_id)
    assert state["sms"]["can_receive_marketing"] and state["sms"]["method"] == "api"


def test_segment_can_receive_sms_follows_consent_and_suppression(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    ada = create_profile(client, org, phone="+14155550101")
    bob = create_profile(client, org, phone="+14155550102")
    create_profile(client, org, phone="+14155550103")  # never asked
    segment = client.post(
        "/api/segments",
        json={"name": "SMS", "definition": {"conditions": [{"type": "consent", "channel": "sms"}]}},
        headers=org.secret_headers,
    )
    assert segment.status_code == 201, segment.text
    segment_id = segment.json()["id"]

    def members() -> set[str]:
        while segments.process_changes(database):
            pass
        listed = client.get(
            f"/api/segments/{segment_id}/members", headers=org.secret_headers
        ).json()["data"]
        return {p["phone"] for p in listed}

    assert members() == set()
    record(client, org, ada, channel="sms", status="subscribed", method="form")
    record(client, org, bob, channel="sms", status="subscribed", method="form")
    assert members() == {"+14155550101", "+14155550102"}
    record(client, org, bob, channel="sms", status="unsubscribed", method="keyword")
    assert members() == {"+14155550101"}
    # A suppressed number may not be sent marketing, whatever the consent says.
    response = client.post(
        "/api/suppressions",
        json={"channel": "sms", "address": "+14155550101", "reason": "manual"},
        headers=org.secret_headers,
    )
    assert response.status_code == 201, response.text
    assert members() == set()


def test_import_records_a_consent_column(client: TestClient, database: Database) -> None:
    org = make_org()
    csv = (
        "phone,sms_consent,email,email_consent\n"
        "+14155550101,subscribed,a@example.com,yes\n"
        "+14155550102,no,b@example.com,\n"
        "+14155550103,perhaps,c@example.com,\n"
    )
    response = client.post(
        "/api/imports/profiles",
        files={"file": ("people.csv", csv.encode(), "text/csv")},
        headers=org.secret_headers,
    )
    assert response.status_code in (201, 202), response.text
    listed = client.get("/api/profiles", params={"limit": 10}, headers=org.secret_headers).json()[
        "data"
    ]
    by_phone = {p["phone"]: consent_of(client, org, p["id"]) for p in listed}
    assert set(by_phone) == {"+14155550101", "+14155550102"}  # the third row is refused
    assert by_phone["+14155550101"]["sms"]["status"] == "subscribed"
    assert by_phone["+14155550101"]["history"][0]["method"] == "import"
    assert by_phone["+14155550102"]["sms"]["status"] == "unsubscribed"


def test_consent_of_another_organizations_profile_is_a_404(client: TestClient) -> None:
    owner, intruder = make_org(), make_org("Other")
    profile_id = create_profile(client, owner, phone="+14155550101")
    assert_isolated(
        client,
        owner,
        intruder,
        profile_id,
        [
            Endpoint("GET", "/api/profiles/{id}/consent"),
            Endpoint(
                "POST", "/api/profiles/{id}/consent", {"channel": "sms", "status": "subscribed"}
            ),
        ],
        read_back=Endpoint("GET", "/api/profiles/{id}/consent"),
    )
