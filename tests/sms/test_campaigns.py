"""SMS campaigns: the audience under the consent rule, fan-out onto the ledger, delivery reports
and clicks in the stats, conversions credited to SMS clicks, smart sending's own window, A/B
variants of the text, and a STOP that keeps the person out of the next campaign."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from herald.campaigns import fanout
from herald.db import Database
from tests.factories import OrgFixture, make_org
from tests.fakes.twilio import FakeTwilio
from tests.sms.conftest import configure, deliver, post_webhook


def profile(client: TestClient, org: OrgFixture, email: str, **fields: Any) -> str:
    response = client.post(
        "/api/profiles", json={"email": email, **fields}, headers=org.secret_headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def subscribed(phone: str) -> dict[str, Any]:
    return {"phone": phone, "consent": {"sms": {"status": "subscribed", "method": "form"}}}


def segment(client: TestClient, org: OrgFixture) -> str:
    definition = {
        "conditions": [{"type": "profile", "field": "email", "operator": "is_set"}],
    }
    response = client.post(
        "/api/segments", json={"name": "All", "definition": definition}, headers=org.secret_headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def create(client: TestClient, org: OrgFixture, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/campaigns", json=fields, headers=org.secret_headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def send_and_pump(client: TestClient, org: OrgFixture, database: Database, cid: str) -> None:
    response = client.post(f"/api/campaigns/{cid}/send", headers=org.secret_headers)
    assert response.status_code == 202, response.text
    fanout.pump(database)


def recipients(client: TestClient, org: OrgFixture, cid: str) -> dict[str, tuple[str, Any]]:
    rows = client.get(
        f"/api/campaigns/{cid}/recipients", params={"limit": 100}, headers=org.secret_headers
    ).json()["data"]
    return {r["profile_id"]: (r["status"], r["skip_reason"]) for r in rows}


def test_an_sms_campaign_end_to_end(
    client: TestClient, twilio: FakeTwilio, database: Database
) -> None:
    org = make_org()
    settings = configure(client, org, twilio)
    ada = profile(client, org, "ada@example.com", first_name="Ada", **subscribed("+14155550201"))
    bob = profile(client, org, "bob@example.com", **subscribed("+14155550202"))
    never = profile(client, org, "never@example.com", phone="+14155550203")
    no_phone = profile(client, org, "nophone@example.com")
    all_people = segment(client, org)

    estimate = client.post(
        "/api/campaigns/audience",
        json={"include_segment_ids": [all_people], "channel": "sms"},
        headers=org.secret_headers,
    )
    assert estimate.status_code == 200, estimate.text
    assert estimate.json() == {
        "total": 4,
        "excluded": 0,
        "eligible": 2,
        "skipped": {"no_consent": 1, "no_phone": 1},
    }

    campaign = create(
        client,
        org,
        name="Tea sale",
        channel="sms",
        sms_body="{{ profile.first_name | default('Hi') }}: tea 20% off https://shop.example.com/tea",
        include_segment_ids=[all_people],
    )
    assert campaign["channel"] == "sms" and campaign["smart_sending_hours"] == 24
    send_and_pump(client, org, database, campaign["id"])
    assert recipients(client, org, campaign["id"]) == {
        ada: ("sent", None),
        bob: ("sent", None),
        never: ("skipped", "no_consent"),
        no_phone: ("skipped", "no_phone"),
    }
    assert get_status(client, org, campaign["id"]) == "sent"
    bodies = {m.to: m.body for m in twilio.messages}
    assert bodies["+14155550201"].startswith("Ada: tea 20% off http://")
    assert bodies["+14155550201"].endswith("Reply STOP to opt out.")

    deliver(client, twilio)
    link = bodies["+14155550201"].split("off ", 1)[1].split("\n", 1)[0]
    parts = urlsplit(link)
    assert client.get(parts.path, follow_redirects=False).status_code == 302
    order = client.post(
        "/api/track",
        json={"event": "Placed Order", "profile": {"email": "ada@example.com"}, "value": 42.5},
        headers=org.public_headers,
    )
    assert order.status_code == 202, order.text
    stats = client.get(f"/api/campaigns/{campaign['id']}/stats", headers=org.secret_headers)
    figures = stats.json()
    assert figures["sent"] == 2 and figures["delivered"] == 2
    assert figures["clicks_unique"] == 1 and figures["conversions"] == 1
    assert figures["revenue"] == 42.5

    # Bob texts STOP; a copy of the campaign (smart sending off) leaves him out, and Ada, texted
    # a moment ago, is left out by smart sending unless it is off.
    assert (
        "unsubscribed"
        in post_webhook(
            client, twilio.inbound(settings["inbound_webhook_url"], "+14155550202", "stop")
        ).text
    )
    copy = client.post(
        f"/api/campaigns/{campaign['id']}/duplicate", headers=org.secret_headers
    ).json()
    send_and_pump(client, org, database, copy["id"])
    again = recipients(client, org, copy["id"])
    assert again[ada] == ("skipped", "smart_sending")
    assert again[bob] == ("skipped", "suppressed")
    assert len(twilio.messages) == 2


def get_status(client: TestClient, org: OrgFixture, cid: str) -> str:
    response = client.get(f"/api/campaigns/{cid}", headers=org.secret_headers)
    return str(response.json()["status"])


def test_sms_campaign_needs_its_text_and_checks_personalization(
    client: TestClient, twilio: FakeTwilio
) -> None:
    org = make_org()
    configure(client, org, twilio)
    all_people = segment(client, org)
    empty = create(client, org, name="Empty", channel="sms", include_segment_ids=[all_people])
    response = client.post(f"/api/campaigns/{empty['id']}/send", headers=org.secret_headers)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "sms_body"
    broken = client.post(
        "/api/campaigns",
        json={"name": "Broken", "channel": "sms", "sms_body": "Hi {{ profile.first_name "},
        headers=org.secret_headers,
    )
    assert broken.status_code == 422
    assert broken.json()["error"]["fields"][0]["field"] == "sms_body"


def test_ab_variants_of_the_text(
    client: TestClient, twilio: FakeTwilio, database: Database
) -> None:
    org = make_org()
    configure(client, org, twilio)
    for index in range(4):
        profile(client, org, f"p{index}@example.com", **subscribed(f"+1415555021{index}"))
    campaign = create(
        client,
        org,
        name="AB",
        channel="sms",
        sms_body="Default text",
        include_segment_ids=[segment(client, org)],
        ab_test={
            "variants": [{"sms_body": "Variant A text"}, {"sms_body": "Variant B text"}],
            "pool_percent": 100,
            "metric": "click_rate",
        },
    )
    send_and_pump(client, org, database, campaign["id"])
    texts = sorted(m.body.split("\n")[0] for m in twilio.messages)
    assert texts == ["Variant A text"] * 2 + ["Variant B text"] * 2
