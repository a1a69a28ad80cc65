"""Messages people text to the organization's numbers: keywords (STOP, START, HELP) and
everything else, through Twilio's signed inbound webhook."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from herald.sms.keywords import keyword_of
from tests.factories import OrgFixture, make_org
from tests.fakes.twilio import FakeTwilio
from tests.sms.conftest import configure, post_webhook


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STOP", "stop"),
        ("  stop. ", "stop"),
        ("Stop!", "stop"),
        ("stopall", "stop"),
        ("UNSUBSCRIBE", "stop"),
        ("cancel", "stop"),
        ("End", "stop"),
        ("quit", "stop"),
        ("revoke", "stop"),
        ("OPTOUT", "stop"),
        ("opt out", "stop"),
        ("Opt-Out!!", "stop"),
        ("start", "start"),
        ("YES", "start"),
        ("unstop", "start"),
        ("help", "help"),
        ("INFO?", "help"),
        ("please stop texting me", None),
        ("stopping by later", None),
        ("", None),
    ],
)
def test_keywords(body: str, keyword: str | None) -> None:
    assert keyword_of(body) == keyword


def text(client: TestClient, fake: FakeTwilio, url: str, sender: str, body: str) -> Any:
    return post_webhook(client, fake.inbound(url, sender, body))


def sms_consent(client: TestClient, org: OrgFixture, profile_id: str) -> dict[str, Any]:
    response = client.get(f"/api/profiles/{profile_id}/consent", headers=org.secret_headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_stop_start_help_and_other_messages(client: TestClient, twilio: FakeTwilio) -> None:
    org = make_org()
    settings = configure(client, org, twilio)
    url = settings["inbound_webhook_url"]
    created = client.post(
        "/api/profiles",
        json={"phone": "+14155550140", "consent": {"sms": {"status": "subscribed"}}},
        headers=org.secret_headers,
    )
    profile_id = created.json()["id"]
    phone = "+14155550140"

    stop = text(client, twilio, url, phone, " Stop. ")
    assert stop.status_code == 200 and stop.headers["content-type"].startswith("text/xml")
    assert "Acme Tea: You are unsubscribed" in stop.text and "START" in stop.text
    state = sms_consent(client, org, profile_id)
    assert state["sms"]["status"] == "unsubscribed" and not state["sms"]["can_receive_marketing"]
    assert state["history"][0]["method"] == "keyword"
    assert state["history"][0]["consent_text"] == " Stop. "
    # One confirmation per opt-out: a second STOP, on another of the numbers, gets none.
    again = post_webhook(client, twilio.inbound(url, phone, "QUIT", to="+14155550001"))
    assert again.status_code == 200 and "<Message>" not in again.text

    help_reply = text(client, twilio, url, phone, "help")
    assert "Msg &amp; data rates may apply" in help_reply.text and "STOP" in help_reply.text

    start = text(client, twilio, url, phone, "START")
    assert "resubscribed" in start.text
    assert sms_consent(client, org, profile_id)["sms"]["can_receive_marketing"]

    hello = text(client, twilio, url, phone, "Do you ship to Canada?")
    assert "<Message>" not in hello.text
    conversation = client.get(f"/api/profiles/{profile_id}/sms", headers=org.secret_headers)
    bodies = [(e["direction"], e["body"], e["keyword"]) for e in conversation.json()["data"]]
    assert ("inbound", "Do you ship to Canada?", None) in bodies
    assert ("inbound", " Stop. ", "stop") in bodies
    timeline = client.get(f"/api/profiles/{profile_id}/timeline", headers=org.secret_headers)
    received = [e["name"] for e in timeline.json()["data"] if e["kind"] == "sms_received"]
    assert "Do you ship to Canada?" in received


def test_stop_from_an_unknown_number_is_kept_and_start_makes_a_profile(
    client: TestClient, twilio: FakeTwilio
) -> None:
    org = make_org()
    url = configure(client, org, twilio)["inbound_webhook_url"]
    assert "unsubscribed" in text(client, twilio, url, "+14155550141", "STOP").text
    suppressions = client.get(
        "/api/suppressions", params={"channel": "sms"}, headers=org.secret_headers
    ).json()["data"]
    assert [(s["address"], s["reason"]) for s in suppressions] == [("+14155550141", "stop")]
    # An SMS to that number now is suppressed, even a transactional one.
    sent = client.post(
        "/api/messages/sms",
        json={"to": {"phone": "+14155550141"}, "body": "Hi"},
        headers=org.secret_headers,
    ).json()
    assert client.get(f"/api/messages/{sent['id']}", headers=org.secret_headers).json()[
        "status"
    ] == ("suppressed")
    text(client, twilio, url, "+14155550141", "unstop")
    found = client.get(
        "/api/profiles", params={"phone": "+14155550141"}, headers=org.secret_headers
    ).json()["data"]
    assert len(found) == 1
    assert sms_consent(client, org, found[0]["id"])["sms"]["can_receive_marketing"]
    assert (
        client.get(
            "/api/suppressions", params={"channel": "sms"}, headers=org.secret_headers
        ).json()["data"]
        == []
    )


def test_a_redelivered_webhook_acts_once(client: TestClient, twilio: FakeTwilio) -> None:
    org = make_org()
    url = configure(client, org, twilio)["inbound_webhook_url"]
    stop = twilio.inbound(url, "+14155550142", "STOP")
    assert "<Message>" in post_webhook(client, stop).text
    start = twilio.inbound(url, "+14155550142", "START")
    post_webhook(client, start)
    # Twilio retries the STOP (a timeout on its side): it must not undo the START.
    assert "<Message>" not in post_webhook(client, stop).text
    found = client.get(
        "/api/profiles", params={"phone": "+14155550142"}, headers=org.secret_headers
    ).json()["data"]
    assert sms_consent(client, org, found[0]["id"])["sms"]["status"] == "subscribed"


def test_a_bad_signature_is_403_and_changes_nothing(client: TestClient, twilio: FakeTwilio) -> None:
    org = make_org()
    url = configure(client, org, twilio)["inbound_webhook_url"]
    stop = twilio.inbound(url, "+14155550143", "STOP")
    assert post_webhook(client, stop, signature="forged").status_code == 403
    stop.params["Body"] = "START"  # altered after signing
    assert post_webhook(client, stop).status_code == 403
    suppressions = client.get("/api/suppressions", headers=org.secret_headers).json()["data"]
    assert suppressions == []
    unconfigured = make_org("Other")
    moved = twilio.inbound(url.replace(str(org.org_id), str(unconfigured.org_id)), "+1415", "STOP")
    assert post_webhook(client, moved).status_code == 403
