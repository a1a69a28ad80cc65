"""The deliverability guard: complaint rates warn above 0.1% and pause marketing email above
0.3% (bounces above the configured rate), per provider, until an admin resumes; transactional
email keeps going."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from herald.email import guard
from herald.outbound import allow_networks
from tests.factories import OrgFixture, make_org, make_user, sign_in
from tests.fakes.postmark import SERVER_TOKEN, FakePostmark
from tests.test_email_failover import add_provider, send_one, settings

AUTH = {"Authorization": "Basic " + base64.b64encode(b"hook:secret").decode()}


@pytest.fixture(autouse=True)
def _loopback() -> Iterator[None]:
    with allow_networks("127.0.0.1/32"):
        yield


@pytest.fixture
def postmark() -> Iterator[FakePostmark]:
    with FakePostmark() as fake:
        yield fake


def set_up(client: TestClient, postmark: FakePostmark) -> tuple[OrgFixture, str]:
    org = make_org()
    settings(client, org)
    config = {
        "server_token": SERVER_TOKEN,
        "endpoint_url": postmark.url,
        "webhook_username": "hook",
        "webhook_password": "secret",
    }
    provider = add_provider(client, org, kind="postmark", label="Postmark", config=config)
    return org, provider["id"]


def complain(client: TestClient, provider_id: str, message: dict[str, Any], number: int) -> None:
    body = {
        "RecordType": "SpamComplaint",
        "ID": number,
        "MessageID": message["provider_message_id"],
        "Metadata": {"herald_message_id": message["id"]},
    }
    response = client.post(
        f"/webhooks/postmark/{provider_id}", content=json.dumps(body), headers=AUTH
    )
    assert response.status_code == 204, response.text


def marketing(client: TestClient, org: OrgFixture, to: str) -> dict[str, Any]:
    body = {"to": {"email": to}, "subject": "Sale", "html": "<p>Sale</p>", "marketing": True}
    response = client.post("/api/messages/email", json=body, headers=org.secret_headers)
    assert response.status_code == 202, response.text
    return dict(
        client.get(f"/api/messages/{response.json()['id']}", headers=org.secret_headers).json()
    )


def test_complaints_over_the_limit_pause_marketing_until_an_admin_resumes(
    client: TestClient, postmark: FakePostmark, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "MIN_SENT", 10)
    org, provider_id = set_up(client, postmark)
    sent = [send_one(client, org, f"p{i}@example.com") for i in range(10)]
    assert (
        client.get("/api/email/deliverability", headers=org.secret_headers).json()["paused"]
        is False
    )

    complain(client, provider_id, sent[0], 1)  # 1 in 10: far over 0.3%
    state = client.get("/api/email/deliverability", headers=org.secret_headers).json()
    assert state["paused"] is True and "complaints through postmark" in state["pause_reason"]
    assert state["rates"] == [
        {
            "provider": "postmark",
            "sent": 10,
            "bounced": 0,
            "complained": 1,
            "bounce_rate": 0.0,
            "complaint_rate": 0.1,
        }
    ]
    assert state["warnings"]

    held = marketing(client, org, "fan@example.com")
    assert held["status"] == "queued"  # held, not sent, not failed
    assert held["error"] == guard.HELD  # the message page says why it waits
    assert "fan@example.com" not in postmark.state.recipients()
    assert send_one(client, org, "receipt@example.com")["status"] == "sent"  # transactional goes

    # Members may not resume; an admin may, and rates count again from then.
    email, password = make_user(org, role="member")
    member = {"X-CSRF-Token": sign_in(client, email, password)}
    assert client.post("/api/email/deliverability/resume", headers=member).status_code == 403
    client.cookies.clear()
    # Resuming kicks the held message at once: it does not wait for its next look (minutes
    # away) or the sweep.
    started = time.monotonic()
    resumed = client.post("/api/email/deliverability/resume", headers=org.secret_headers)
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    assert resumed.json()["rates"] == []
    message = client.get(f"/api/messages/{held['id']}", headers=org.secret_headers).json()
    assert message["status"] == "sent" and message["error"] is None
    assert time.monotonic() - started < 5
    assert "fan@example.com" in postmark.state.recipients()


def test_a_complaint_rate_between_the_limits_only_warns(
    client: TestClient, postmark: FakePostmark, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guard, "MIN_SENT", 10)
    monkeypatch.setattr(guard, "COMPLAINT_PAUSE", 0.5)
    org, provider_id = set_up(client, postmark)
    sent = [send_one(client, org, f"p{i}@example.com") for i in range(10)]
    complain(client, provider_id, sent[0], 1)
    state = client.get("/api/email/deliverability", headers=org.secret_headers).json()
    assert state["paused"] is False
    assert state["warnings"] == ["postmark: complaints at 10.00% of 10 sent (keep them under 0.1%)"]
    assert marketing(client, org, "fan@example.com")["status"] == "sent"


def test_too_few_messages_say_nothing(client: TestClient, postmark: FakePostmark) -> None:
    org, provider_id = set_up(client, postmark)
    sent = [send_one(client, org, f"p{i}@example.com") for i in range(3)]
    complain(client, provider_id, sent[0], 1)
    state = client.get("/api/email/deliverability", headers=org.secret_headers).json()
    assert state["paused"] is False and state["warnings"] == []
