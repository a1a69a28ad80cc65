"""The provider list through the API, sending through it end to end, and failover: a provider
failing mid-campaign, the campaign finishing through the next one with every recipient sent
exactly once across both, the first one coming back; and a send whose outcome is unknown never
going to a second provider."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.campaigns import fanout
from herald.db import Database
from herald.email import failover
from herald.email import service as sending
from herald.messaging import service as messages
from herald.models import EmailProviderEntry, Message, MessageEvent, Suppression
from herald.outbound import allow_networks
from herald.settings import get_settings
from tests.conftest import Backend
from tests.factories import OrgFixture, make_org
from tests.fakes.postmark import SERVER_TOKEN, FakePostmark
from tests.fakes.sendgrid import API_KEY, FakeSendGrid
from tests.tenancy import Endpoint, assert_isolated, assert_management_only
from tests.test_campaigns import act, city_segment, create, get, identify, make_template
from tests.test_campaigns import email_settings as settings


@pytest.fixture(autouse=True)
def _loopback() -> Iterator[None]:
    with allow_networks("127.0.0.0/8"):
        yield


@pytest.fixture
def sendgrid() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as fake:
        yield fake


@pytest.fixture
def postmark() -> Iterator[FakePostmark]:
    with FakePostmark() as fake:
        yield fake


def add_provider(client: TestClient, org: OrgFixture, **body: Any) -> dict[str, Any]:
    response = client.post("/api/email/providers", json=body, headers=org.secret_headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def add_sendgrid(client: TestClient, org: OrgFixture, fake: FakeSendGrid, **extra: Any) -> dict:
    config = {"api_key": API_KEY, "endpoint_url": fake.url, **extra.pop("config", {})}
    return add_provider(client, org, kind="sendgrid", label="SendGrid", config=config, **extra)


def add_postmark(client: TestClient, org: OrgFixture, fake: FakePostmark, **extra: Any) -> dict:
    config = {"server_token": SERVER_TOKEN, "endpoint_url": fake.url}
    return add_provider(client, org, kind="postmark", label="Postmark", config=config, **extra)


def breaker_settings(monkeypatch: pytest.MonkeyPatch, **values: float) -> None:
    """Set HERALD_EMAIL_BREAKER_<name> for the rest of the test."""
    for name, value in values.items():
        monkeypatch.setenv(f"HERALD_EMAIL_BREAKER_{name}", str(value))
    get_settings.cache_clear()


def health(client: TestClient, org: OrgFixture, provider: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"/api/email/providers/{provider['id']}", headers=org.secret_headers)
    return dict(response.json()["health"])


def send_one(client: TestClient, org: OrgFixture, to: str) -> dict[str, Any]:
    body = {"to": {"email": to}, "subject": "Hi", "html": "<p>Hello</p>"}
    response = client.post("/api/messages/email", json=body, headers=org.secret_headers)
    assert response.status_code == 202, response.text
    message = client.get(f"/api/messages/{response.json()['id']}", headers=org.secret_headers)
    return dict(message.json())


def test_provider_secrets_are_write_only_and_encrypted(
    client: TestClient, database: Database, sendgrid: FakeSendGrid
) -> None:
    org = make_org()
    created = add_sendgrid(client, org, sendgrid, per_second=50)
    assert "api_key" not in created["config"] and created["secrets_set"] == ["api_key"]
    assert created["webhook_path"] == f"/webhooks/sendgrid/{created['id']}"
    assert created["health"]["state"] == "closed" and created["position"] == 0
    with database.transaction() as session:
        stored = session.scalar(sa.select(EmailProviderEntry.config))
    assert stored is not None and API_KEY not in stored
    # Left out, the key is kept; the check still signs in with it.
    update = {"label": "SendGrid EU", "position": 3, "config": {"endpoint_url": sendgrid.url}}
    response = client.put(
        f"/api/email/providers/{created['id']}", json=update, headers=org.secret_headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["label"] == "SendGrid EU" and response.json()["secrets_set"]
    checked = client.post(f"/api/email/providers/{created['id']}/check", headers=org.secret_headers)
    assert checked.json() == {"ok": True, "detail": "the API key works and may send mail"}


def test_bad_provider_settings_are_refused_field_by_field(client: TestClient) -> None:
    org = make_org()
    cases = [
        ({"kind": "ses", "label": "SES", "config": {"region": "moon-1"}}, "config.region"),
        ({"kind": "sendgrid", "label": "SG", "config": {}}, "config.api_key"),
        (
            {
                "kind": "postmark",
                "label": "PM",
                "config": {"server_token": "x", "endpoint_url": "http://169.254.169.254"},
            },
            "config.endpoint_url",
        ),
        ({"kind": "mailchimp", "label": "MC"}, "kind"),
        ({"kind": "outbox", "label": "Box", "per_second": 0}, "per_second"),
    ]
    with allow_networks():  # the metadata address stays refused
        for body, field in cases:
            response = client.post("/api/email/providers", json=body, headers=org.secret_headers)
            assert response.status_code == 422, (body, response.text)
            fields = [f["field"] for f in response.json()["error"]["fields"]]
            assert any(f.endswith(field) for f in fields), (field, fields)
    assert client.get("/api/email/providers", headers=org.secret_headers).json()["data"] == []


def test_a_failing_check_says_why(client: TestClient, sendgrid: FakeSendGrid) -> None:
    org = make_org()
    created = add_sendgrid(client, org, sendgrid, config={"api_key": "SG.wrong"})
    checked = client.post(f"/api/email/providers/{created['id']}/check", headers=org.secret_headers)
    assert checked.status_code == 200
    assert checked.json()["ok"] is False and "401" in checked.json()["detail"]


def test_providers_belong_to_their_organization(client: TestClient, sendgrid: FakeSendGrid) -> None:
    owner, intruder = make_org("Owner"), make_org("Intruder")
    created = add_sendgrid(client, owner, sendgrid)
    update = {"label": "x", "position": 0, "config": {}}
    endpoints = [
        Endpoint("GET", "/api/email/providers/{id}"),
        Endpoint("PUT", "/api/email/providers/{id}", update),
        Endpoint("POST", "/api/email/providers/{id}/check"),
        Endpoint("POST", "/api/email/providers/{id}/reset"),
        Endpoint("DELETE", "/api/email/providers/{id}"),
    ]
    assert_isolated(
        client,
        owner,
        intruder,
        created["id"],
        endpoints,
        Endpoint("GET", "/api/email/providers/{id}"),
    )
    assert client.get("/api/email/providers", headers=intruder.secret_headers).json()["data"] == []
    assert_management_only(client, owner, created["id"], endpoints)


def test_email_goes_out_through_the_list_and_records_the_provider(
    client: TestClient, database: Database, sendgrid: FakeSendGrid
) -> None:
    org = make_org()
    settings(client, org)
    add_sendgrid(client, org, sendgrid)
    message = send_one(client, org, "ada@example.com")
    assert message["status"] == "sent", message
    assert message["provider"] == "sendgrid"
    [accepted] = sendgrid.state.accepted
    assert message["provider_message_id"] == accepted.provider_message_id
    assert accepted.herald_message_id == message["id"]
    [provider] = client.get("/api/email/providers", headers=org.secret_headers).json()["data"]
    assert provider["health"]["sent"] == 1 and provider["health"]["latency_ms"] is not None


def test_an_address_the_provider_calls_invalid_fails_and_is_suppressed(
    client: TestClient, database: Database, postmark: FakePostmark
) -> None:
    org = make_org()
    settings(client, org)
    add_postmark(client, org, postmark)
    postmark.state.invalid = {"gone@example.com"}
    message = send_one(client, org, "gone@example.com")
    assert message["status"] == "failed" and "406" in message["error"]
    assert message["provider"] == "postmark"
    with database.transaction() as session:
        suppression = session.scalar(sa.select(Suppression))
        assert suppression is not None
        assert (suppression.address, suppression.reason) == ("gone@example.com", "hard_bounce")
    # A message refusal is not the provider's failure: its breaker stays closed.
    [provider] = client.get("/api/email/providers", headers=org.secret_headers).json()["data"]
    assert provider["health"]["state"] == "closed"


def test_a_campaign_fails_over_mid_way_and_every_recipient_gets_one_message(
    client: TestClient,
    database: Database,
    backend: Backend,
    postmark: FakePostmark,
    sendgrid: FakeSendGrid,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failover, "BATCH", 5)
    org = make_org()
    settings(client, org)
    first = add_postmark(client, org, postmark)
    second = add_sendgrid(client, org, sendgrid)
    people = [f"p{i}@example.com" for i in range(30)]
    for address in people:
        identify(client, org, email=address, first_name="P", location={"city": "Berlin"})
    berlin = city_segment(client, org, "Berlin")
    # Postmark takes ten messages, then answers 500 to everything.
    postmark.state.fault, postmark.state.fail_after = "5xx", 10
    campaign = create(
        client,
        org,
        name="Spring",
        template_id=make_template(database, org),
        include_segment_ids=[berlin],
    )
    assert act(client, org, campaign["id"], "send").status_code == 202
    fanout.pump(database)

    done = get(client, org, campaign["id"])
    assert done["status"] == "sent" and done["counts"] == {"sent": 30}, done
    first_got, second_got = postmark.state.recipients(), sendgrid.state.recipients()
    assert len(first_got) == 10 and len(second_got) == 20
    assert sorted(first_got + second_got) == sorted(people)  # each exactly once
    with database.transaction() as session:
        messages = list(session.scalars(sa.select(Message).where(Message.source == "campaign")))
        handovers = list(
            session.scalars(sa.select(MessageEvent).where(MessageEvent.kind == failover.HANDOVER))
        )
    by_provider = {m.to_address: m.provider for m in messages}
    assert {a: "postmark" for a in first_got} | {a: "sendgrid" for a in second_got} == by_provider
    # The batch that Postmark refused was written down as handed over before SendGrid's call.
    assert len(handovers) == 5
    assert {h.data["to_id"] for h in handovers} == {second["id"]}
    health = {
        p["id"]: p["health"]
        for p in client.get("/api/email/providers", headers=org.secret_headers).json()["data"]
    }
    assert health[first["id"]]["state"] == "open"
    assert health[first["id"]]["last_error"] and "500" in health[first["id"]]["last_error"]

    # Postmark recovers; after the cool-down one probe closes its breaker again.
    postmark.state.fault = None
    breaker_settings(monkeypatch, COOL_DOWN_SECONDS=0)
    assert send_one(client, org, "late@example.com")["provider"] == "postmark"
    after = client.get("/api/email/providers", headers=org.secret_headers).json()["data"]
    assert after[0]["health"]["state"] == "closed"
    assert send_one(client, org, "later@example.com")["provider"] == "postmark"


def test_a_send_with_an_unknown_outcome_is_never_handed_to_another_provider(
    client: TestClient,
    database: Database,
    postmark: FakePostmark,
    sendgrid: FakeSendGrid,
) -> None:
    org = make_org()
    settings(client, org)
    add_sendgrid(client, org, sendgrid, config={"timeout": 0.3})
    add_postmark(client, org, postmark)
    sendgrid.state.fault, sendgrid.state.hang_seconds = "hang", 1.0
    message = send_one(client, org, "ada@example.com")
    assert message["status"] == "queued" and "no answer" in message["error"]
    assert message["provider"] == "sendgrid"  # the provider that may have it
    assert postmark.state.accepted == []
    # Even while SendGrid answers 503 (which would hand any other message over), this one
    # waits for SendGrid: it may already have it.
    sendgrid.state.fault = "5xx"
    message_id = uuid.UUID(message["id"])
    with database.transaction() as session:
        session.execute(sa.update(Message).values(send_after=None))
    assert sending.send_message(database, message_id) == "retry"
    assert postmark.state.accepted == []
    sendgrid.state.fault = None
    with database.transaction() as session:
        session.execute(sa.update(Message).values(send_after=None))
    assert sending.send_message(database, message_id) == "sent"
    time.sleep(sendgrid.state.hang_seconds)  # the request that hung is over by now
    # Never through Postmark. The hung request was taken by SendGrid after all (late), so the
    # retry through SendGrid made a second copy with the same Herald id: the residual risk of a
    # provider without idempotency keys (docs/email.md, Failover).
    assert postmark.state.accepted == []
    assert {a.herald_message_id for a in sendgrid.state.accepted} == {message["id"]}
    with database.transaction() as session:
        sent = session.get(Message, message_id)
        assert sent is not None and sent.unsure_provider_id is None


def test_an_smtp_host_that_cannot_be_reached_is_reported_at_check(client: TestClient) -> None:
    org = make_org()
    assert client.post("/api/email/settings/check", headers=org.secret_headers).json() == {
        "ok": True,
        "detail": "nothing to check: messages stay on this machine",
    }
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 2}
    settings_body = {"provider": "smtp", "smtp": smtp, "default_from_email": "a@acme.example"}
    assert client.put(
        "/api/email/settings", json=settings_body, headers=org.secret_headers
    ).is_success
    checked = client.post("/api/email/settings/check", headers=org.secret_headers).json()
    assert checked["ok"] is False and f"cannot connect to 127.0.0.1:{port}" in checked["detail"]
    entry = add_provider(client, org, kind="smtp", label="Relay", config=smtp)
    checked = client.post(f"/api/email/providers/{entry['id']}/check", headers=org.secret_headers)
    assert checked.json()["ok"] is False


def test_the_breaker_thresholds_are_settings_of_the_install(
    client: TestClient, sendgrid: FakeSendGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    breaker_settings(monkeypatch, FAILURES=2, COOL_DOWN_SECONDS=3600)
    org = make_org()
    settings(client, org)
    entry = add_sendgrid(client, org, sendgrid)
    sendgrid.state.fault = "5xx"
    assert send_one(client, org, "a@example.com")["status"] == "queued"  # a retry
    assert health(client, org, entry)["state"] == "closed"  # one failure of the two
    send_one(client, org, "b@example.com")
    assert health(client, org, entry)["state"] == "open"

    # Open for an hour: SendGrid is not asked, whatever it would say now. The message waits
    # without using up an attempt, and says why.
    sendgrid.state.fault = None
    waiting = send_one(client, org, "c@example.com")
    assert waiting["status"] == "queued" and waiting["error"] == failover.HELD
    assert sendgrid.state.accepted == []

    # A shorter cool-down lets the next message probe: it closes the breaker, and the message
    # held meanwhile goes at once.
    breaker_settings(monkeypatch, COOL_DOWN_SECONDS=0)
    assert send_one(client, org, "d@example.com")["status"] == "sent"
    assert health(client, org, entry)["state"] == "closed"
    assert sorted(sendgrid.state.recipients()) == ["c@example.com", "d@example.com"]


def test_the_error_rate_over_the_window_opens_the_breaker(
    client: TestClient, sendgrid: FakeSendGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    breaker_settings(
        monkeypatch, FAILURES=1000, ERROR_RATE=0.5, WINDOW_MINIMUM=4, WINDOW_SECONDS=600
    )
    org = make_org()
    settings(client, org)
    entry = add_sendgrid(client, org, sendgrid)
    for i in range(2):
        assert send_one(client, org, f"ok{i}@example.com")["status"] == "sent"
    sendgrid.state.fault = "5xx"
    send_one(client, org, "x@example.com")
    assert health(client, org, entry)["state"] == "closed"  # 1 of 3: under the minimum
    send_one(client, org, "y@example.com")
    assert health(client, org, entry)["state"] == "open"  # 2 of 4 failed: 50%


def test_held_messages_go_as_soon_as_the_breaker_closes(
    client: TestClient, sendgrid: FakeSendGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages held while the only provider's breaker is open go out within seconds of its
    closing (a probe that succeeds, or an admin's reset), not at the end of the cool-down or
    at the sweep's next pass minutes later."""
    breaker_settings(monkeypatch, FAILURES=1, COOL_DOWN_SECONDS=3600)
    org = make_org()
    settings(client, org)
    entry = add_sendgrid(client, org, sendgrid)
    sendgrid.state.fault = "suspended"
    first = send_one(client, org, "first@example.com")
    assert health(client, org, entry)["state"] == "open"
    # The suspended account's message waits as well: nothing of it was the message's fault.
    assert first["status"] == "queued" and first["error"].startswith(failover.HELD)
    held = [send_one(client, org, f"h{i}@example.com") for i in range(12)]
    assert {m["status"] for m in held} == {"queued"}
    assert {m["attempts"] for m in held} == {0}  # waiting is not an attempt
    sendgrid.state.fault = None

    started = time.monotonic()
    reset = client.post(f"/api/email/providers/{entry['id']}/reset", headers=org.secret_headers)
    assert reset.status_code == 200
    taken = sorted(sendgrid.state.recipients())
    assert taken == sorted(["first@example.com", *(f"h{i}@example.com" for i in range(12))])
    assert time.monotonic() - started < 10  # the cool-down had an hour to go

    # Through a probe: open again with a short cool-down, hold more, then one message probes.
    breaker_settings(monkeypatch, COOL_DOWN_SECONDS=1)
    sendgrid.state.fault = "suspended"
    send_one(client, org, "again@example.com")
    later = [send_one(client, org, f"l{i}@example.com") for i in range(5)]
    assert {m["status"] for m in later} == {"queued"}
    sendgrid.state.fault = None
    time.sleep(1.1)
    started = time.monotonic()
    assert send_one(client, org, "probe@example.com")["status"] == "sent"
    for message in later:
        got = client.get(f"/api/messages/{message['id']}", headers=org.secret_headers).json()
        assert got["status"] == "sent", got
    assert time.monotonic() - started < 10
    assert len(sendgrid.state.recipients()) == len(set(sendgrid.state.recipients()))


def test_a_shared_request_with_a_refused_address_records_each_message_outcome(
    client: TestClient, database: Database, sendgrid: FakeSendGrid
) -> None:
    """The same notice to six people goes to SendGrid as personalizations of one request; the
    address SendGrid refuses fails (and is suppressed) on its own, the five others are sent once
    each, and sending the batch again sends nothing twice."""
    org = make_org()
    settings(client, org)
    add_sendgrid(client, org, sendgrid)
    sendgrid.state.invalid = {"gone@example.com"}
    addresses = [f"n{i}@example.com" for i in range(5)] + ["gone@example.com"]
    notice = messages.RawContent(subject="Notice", html="<p>Our terms change.</p>", text=None)
    with database.transaction() as session:
        ids = [
            messages.queue_email(
                session,
                org.org_id,
                source="transactional",
                idempotency_key=f"notice:{address}",
                to_address=address,
                raw=notice,
                kick=False,
            ).id
            for address in addresses
        ]
    outcomes = sending.send_messages(database, ids)
    assert [outcomes[i] for i in ids] == ["sent"] * 5 + ["failed"]
    assert sendgrid.requests == [5]  # the refused request took nothing; one more took five
    with database.transaction() as session:
        rows = {m.to_address: m for m in session.scalars(sa.select(Message))}
        suppressed = session.scalars(sa.select(Suppression.address)).all()
    assert len({rows[a].provider_message_id for a in addresses[:5]}) == 1
    assert rows["gone@example.com"].status == "failed"
    assert "valid address" in (rows["gone@example.com"].error or "")
    assert suppressed == ["gone@example.com"]
    assert set(sending.send_messages(database, ids).values()) == {"done"}
    assert sorted(sendgrid.state.recipients()) == addresses[:5]
