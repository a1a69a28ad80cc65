"""Sending SMS through Twilio (the fake on loopback): settings, the ledger's guarantees,
delivery reports, errors, consent at send time, short links."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database
from herald.models import Message, SmsSettings, Suppression
from tests.factories import OrgFixture, make_org
from tests.fakes.twilio import FakeTwilio
from tests.sms.conftest import configure, post_webhook


def send(client: TestClient, org: OrgFixture, **body: Any) -> dict[str, Any]:
    response = client.post("/api/messages/sms", json=body, headers=org.secret_headers)
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


def message(client: TestClient, org: OrgFixture, message_id: str) -> dict[str, Any]:
    response = client.get(f"/api/messages/{message_id}", headers=org.secret_headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def subscribed_profile(client: TestClient, org: OrgFixture, phone: str, **fields: Any) -> str:
    response = client.post(
        "/api/profiles",
        json={
            "phone": phone,
            "consent": {"sms": {"status": "subscribed", "method": "form", "text": "Text me"}},
            **fields,
        },
        headers=org.secret_headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_settings_keep_the_token_encrypted_and_check_the_connection(
    client: TestClient, twilio: FakeTwilio, database: Database
) -> None:
    org = make_org()
    shown = configure(client, org, twilio)
    assert shown["configured"] and shown["auth_token_set"] and "auth_token" not in shown
    assert shown["inbound_webhook_url"].endswith(f"/webhooks/twilio/{org.org_id}/inbound")
    assert "Msg & data rates may apply" in shown["help_reply"]
    with database.transaction() as session:
        row = session.get(SmsSettings, org.org_id)
        assert row is not None and row.credentials and twilio.auth_token not in row.credentials
    check = client.post("/api/sms/settings/check", headers=org.secret_headers)
    assert check.status_code == 200 and check.json()["ok"], check.text
    assert check.json()["account_status"] == "active"

    # Saving without the token keeps it; a wrong token fails the check with Twilio's code.
    without_token = {"account_sid": twilio.account_sid, "sender_numbers": ["+14155550000"]}
    kept = client.put("/api/sms/settings", json=without_token, headers=org.secret_headers)
    assert kept.status_code == 200 and kept.json()["auth_token_set"], kept.text
    assert client.post("/api/sms/settings/check", headers=org.secret_headers).json()["ok"]
    configure(client, org, twilio, auth_token="wrong-token-123")
    failed = client.post("/api/sms/settings/check", headers=org.secret_headers).json()
    assert not failed["ok"] and "20003" in failed["error"]

    for bad in (
        {"account_sid": "nope", "auth_token": "x" * 32},
        {"sender_numbers": ["415-555"]},
        {"account_sid": twilio.account_sid, "auth_token": None},  # removing it needs no SID
        {"quiet_start": 25},
    ):
        response = client.put("/api/sms/settings", json=bad, headers=org.secret_headers)
        assert response.status_code == 422, bad
        assert response.json()["error"]["fields"]
    other = make_org("Other")
    assert not client.get("/api/sms/settings", headers=other.secret_headers).json()["configured"]


def test_a_transactional_sms_goes_out_once_and_follows_its_reports(
    client: TestClient, twilio: FakeTwilio
) -> None:
    org = make_org()
    configure(client, org, twilio)
    headers = {**org.secret_headers, "Idempotency-Key": "order-1-shipped"}
    body = {"to": {"phone": "+14155550123"}, "body": "Your order shipped", "media_urls": []}
    first = client.post("/api/messages/sms", json=body, headers=headers)
    again = client.post("/api/messages/sms", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    (sent,) = twilio.messages
    assert sent.to == "+14155550123" and sent.body == "Your order shipped"
    assert sent.from_ in twilio.numbers
    assert sent.status_callback and f"message_id={first.json()['id']}" in sent.status_callback
    state = message(client, org, first.json()["id"])
    assert state["status"] == "sent" and state["provider_message_id"] == sent.sid
    assert state["channel"] == "sms"

    callbacks = twilio.take_callbacks()
    assert [c.params["MessageStatus"] for c in callbacks] == ["sent", "delivered"]
    for callback in (*callbacks, *callbacks):  # each twice: deduplicated
        assert post_webhook(client, callback).status_code == 204
    post_webhook(client, callbacks[0])  # a late "sent" never moves it back
    state = message(client, org, first.json()["id"])
    assert state["status"] == "delivered"
    kinds = [e["kind"] for e in state["events"]]
    assert kinds.count("delivered") == 1 and kinds.count("sent") == 1


def test_bad_signatures_are_refused_and_change_nothing(
    client: TestClient, twilio: FakeTwilio
) -> None:
    org = make_org()
    configure(client, org, twilio)
    sent = send(client, org, to={"phone": "+14155550123"}, body="Hi")
    callbacks = twilio.take_callbacks()
    forged = post_webhook(client, callbacks[1], signature="bm90IGEgc2lnbmF0dXJl")
    assert forged.status_code == 403
    missing = post_webhook(client, callbacks[1], signature="")
    assert missing.status_code == 403
    assert message(client, org, sent["id"])["status"] == "sent"
    # Another organization's URL with this one's signed report: refused as well.
    other = make_org("Other")
    configure(client, other, twilio)
    moved = callbacks[1]
    moved.url = moved.url.replace(str(org.org_id), str(other.org_id))
    assert post_webhook(client, moved).status_code == 403


def test_undelivered_keeps_its_code_and_no_late_success_overwrites_it(
    client: TestClient, twilio: FakeTwilio
) -> None:
    org = make_org()
    configure(client, org, twilio)
    twilio.undeliverable.add("+14155550124")
    sent = send(client, org, to={"phone": "+14155550124"}, body="Hi")
    callbacks = twilio.take_callbacks()
    for callback in callbacks:
        post_webhook(client, callback)
    state = message(client, org, sent["id"])
    assert state["status"] == "failed" and "30003" in state["error"]
    late = twilio._callback(twilio.messages[0], "delivered")
    assert post_webhook(client, late).status_code == 204
    state = message(client, org, sent["id"])
    assert state["status"] == "failed" and "30003" in state["error"]


def test_errors_retry_or_fail_with_twilios_code(
    client: TestClient, twilio: FakeTwilio, database: Database
) -> None:
    org = make_org()
    profile_id = subscribed_profile(client, org, "+14155550125")
    configure(client, org, twilio)
    twilio.fail_next.append((503, 20500))
    retried = send(client, org, to={"phone": "+14155550126"}, body="Hi")
    state = message(client, org, retried["id"])
    assert state["status"] == "queued" and "503" in state["error"] and state["send_after"]

    twilio.fail_next.append((400, 21211))
    invalid = send(client, org, to={"phone": "+14155550131"}, body="Hi")
    state = message(client, org, invalid["id"])
    assert state["status"] == "failed" and "21211" in state["error"]

    twilio.opted_out.add("+14155550125")
    opted = send(client, org, to={"profile_id": profile_id}, body="Hi")
    state = message(client, org, opted["id"])
    assert state["status"] == "failed" and "21610" in state["error"]
    with database.transaction() as session:
        stop = session.scalar(
            sa.select(Suppression).where(
                Suppression.org_id == org.org_id, Suppression.address == "+14155550125"
            )
        )
        assert stop is not None and stop.reason == "stop"
    consent = client.get(f"/api/profiles/{profile_id}/consent", headers=org.secret_headers)
    assert consent.json()["sms"]["status"] == "unsubscribed"
    assert consent.json()["history"][0]["method"] == "carrier"


def test_marketing_sms_needs_consent_carries_opt_out_and_tracks_links(
    client: TestClient, twilio: FakeTwilio, database: Database
) -> None:
    org = make_org()
    configure(client, org, twilio)
    subscribed = subscribed_profile(client, org, "+14155550127", first_name="Ada")
    never_asked = client.post(
        "/api/profiles", json={"phone": "+14155550128"}, headers=org.secret_headers
    ).json()["id"]
    body = "Hi {{ profile.first_name }}, 20% off: https://shop.example.com/sale?x=1."
    skipped = send(client, org, to={"profile_id": never_asked}, body=body, marketing=True)
    assert message(client, org, skipped["id"])["status"] == "skipped"
    sent = send(client, org, to={"profile_id": subscribed}, body=body, marketing=True)
    assert message(client, org, sent["id"])["status"] == "sent"
    (out,) = twilio.messages
    assert out.body.startswith("Hi Ada, 20% off: http://")
    assert "shop.example.com" not in out.body and out.body.endswith("Reply STOP to opt out.")
    short = out.body.split(": ", 1)[1].split(".\n")[0]
    path = short.split("://", 1)[1].split("/", 1)[1]
    click = client.get("/" + path, follow_redirects=False)
    assert click.status_code == 302
    assert click.headers["location"] == "https://shop.example.com/sale?x=1"
    assert "clicked" in [e["kind"] for e in message(client, org, sent["id"])["events"]]
    tampered = client.get("/" + path[:-1] + ("A" if path[-1] != "A" else "B"))
    assert tampered.status_code == 404


def test_messages_of_another_organization_are_404(client: TestClient, twilio: FakeTwilio) -> None:
    owner, intruder = make_org(), make_org("Other")
    configure(client, owner, twilio)
    sent = send(client, owner, to={"phone": "+14155550129"}, body="Hi")
    response = client.get(f"/api/messages/{sent['id']}", headers=intruder.secret_headers)
    assert response.status_code == 404
    profile_id = subscribed_profile(client, owner, "+14155550130")
    response = client.post(
        "/api/messages/sms",
        json={"to": {"profile_id": profile_id}, "body": "Hi"},
        headers=intruder.secret_headers,
    )
    assert response.status_code == 404
    response = client.get(f"/api/profiles/{profile_id}/sms", headers=intruder.secret_headers)
    assert response.status_code == 404


def test_bad_send_requests_are_refused(client: TestClient, twilio: FakeTwilio) -> None:
    org = make_org()
    configure(client, org, twilio)
    for body in (
        {"to": {"phone": "+14155550123"}, "body": ""},
        {"to": {}, "body": "Hi"},
        {"to": {"phone": "+14155550123", "profile_id": str(uuid.uuid4())}, "body": "Hi"},
        {"to": {"phone": "not a number"}, "body": "Hi"},
        {"to": {"phone": "+14155550123"}, "body": "x" * 1601},
        {"to": {"phone": "+14155550123"}, "body": "Hi", "media_urls": ["ftp://x"]},
    ):
        response = client.post("/api/messages/sms", json=body, headers=org.secret_headers)
        assert response.status_code == 422, body
        assert response.json()["error"]["fields"], response.text
    assert twilio.messages == []


def test_unconfigured_sms_fails_with_a_reason(client: TestClient, database: Database) -> None:
    org = make_org()
    sent = send(client, org, to={"phone": "+14155550123"}, body="Hi")
    state = message(client, org, sent["id"])
    assert state["status"] == "failed" and "Settings → SMS" in state["error"]
    with database.transaction() as session:
        row = session.get(Message, uuid.UUID(sent["id"]))
        assert row is not None and row.channel == "sms"


def test_segment_counter(client: TestClient) -> None:
    org = make_org()

    def count(body: str) -> dict[str, Any]:
        response = client.post("/api/sms/segments", json={"body": body}, headers=org.secret_headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    assert count("a" * 160) | {"non_gsm": []} == {
        "encoding": "GSM-7",
        "characters": 160,
        "segments": 1,
        "per_segment": 160,
        "remaining": 0,
        "non_gsm": [],
    }
    assert count("a" * 161)["segments"] == 2 and count("a" * 161)["per_segment"] == 153
    assert count("€" * 80)["characters"] == 160  # an extension character counts twice
    emoji = count("Hi 🎉")
    assert emoji["encoding"] == "UCS-2" and emoji["characters"] == 5 and emoji["non_gsm"] == ["🎉"]
    assert count("é" * 71)["encoding"] == "GSM-7"  # é is in GSM-7
    assert count("ê" * 71) | {"non_gsm": []} == {
        "encoding": "UCS-2",
        "characters": 71,
        "segments": 2,
        "per_segment": 67,
        "remaining": 63,
        "non_gsm": [],
    }
