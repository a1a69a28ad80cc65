"""Email through the ledger: queueing, the worker's send to the outbox, idempotency, suppression and
consent at send time, crashes and the sweep, provider errors, the settings API, tenancy."""

from __future__ import annotations

import email
import threading
import uuid
from datetime import timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from herald.db import Database, utcnow
from herald.email import batch, claiming
from herald.email import service as sending
from herald.email.providers import (
    OutgoingEmail,
    PermanentSendError,
    SendResult,
    TransientSendError,
    decrypt_config,
)
from herald.email.providers.outbox import OutboxProvider, outbox_path
from herald.messaging import service as messages
from herald.models import (
    Consent,
    EmailSettings,
    EmailTemplate,
    Flow,
    Message,
    MessageEvent,
    Suppression,
)
from herald.worker import run_sweeps
from tests.conftest import Backend
from tests.factories import OrgFixture, make_org, make_user, sign_in
from tests.queueing import drain, queued, use_real_queue
from tests.tenancy import Endpoint, assert_isolated, assert_management_only

SEND_TASK = "herald.email.send"


def send(client: TestClient, org: OrgFixture, body: dict[str, Any], key: str | None = None) -> dict:
    headers = dict(org.secret_headers)
    if key is not None:
        headers["Idempotency-Key"] = key
    response = client.post("/api/messages/email", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def get_message(client: TestClient, org: OrgFixture, message_id: str) -> dict:
    response = client.get(f"/api/messages/{message_id}", headers=org.secret_headers)
    assert response.status_code == 200, response.text
    return response.json()


def raw_body(**extra: Any) -> dict[str, Any]:
    return {
        "to": {"email": "Ada@Example.com"},
        "subject": "Order {{ data.order }}",
        "html": '<html><body><p>Hi {{ profile.first_name | default("there") }}</p>'
        '<a href="https://shop.example/orders/{{ data.order }}">Your order</a></body></html>',
        "data": {"order": "A-17"},
        **extra,
    }


def configure(client: TestClient, org: OrgFixture, **settings: Any) -> dict:
    body = {
        "default_from_email": "shop@acme.example",
        "default_from_name": "Acme",
        "postal_address": "1 Harbour Street, Portsmouth",
        **settings,
    }
    response = client.put("/api/email/settings", json=body, headers=org.secret_headers)
    assert response.status_code == 200, response.text
    return response.json()


def stored_mime(backend: Backend, org: OrgFixture, message_id: str) -> email.message.EmailMessage:
    path = outbox_path(backend.data_dir, org.org_id, uuid.UUID(message_id))
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def identify(client: TestClient, org: OrgFixture, **body: Any) -> str:
    response = client.post("/api/identify", json=body, headers=org.public_headers)
    assert response.status_code == 200, response.text
    return str(response.json()["profile_id"])


def events_of(database: Database, message_id: str) -> list[str]:
    with database.transaction() as session:
        return list(
            session.scalars(
                sa.select(MessageEvent.kind)
                .where(MessageEvent.message_id == uuid.UUID(message_id))
                .order_by(MessageEvent.at, MessageEvent.id)
            )
        )


def load(database: Database, message_id: str | uuid.UUID) -> Message:
    with database.transaction() as session:
        message = session.get(Message, uuid.UUID(str(message_id)))
        assert message is not None
        return message


# --- Sending to the outbox ----------------------------------------------------------------------


def test_a_transactional_email_is_queued_sent_by_the_worker_and_stored_in_the_outbox(
    client: TestClient, backend: Backend, database: Database
) -> None:
    org = make_org()
    configure(client, org, default_reply_to="help@acme.example")
    created = send(client, org, raw_body())
    # The answer is written before the commit; the (inline) worker runs after it.
    assert created["status"] == "queued" and created["source"] == "transactional"
    assert created["to_address"] == "ada@example.com" and created["profile_id"] is None
    assert [e["kind"] for e in created["events"]] == ["queued"]

    message = get_message(client, org, created["id"])
    assert message["status"] == "sent", message
    assert message["provider"] == "outbox" and message["attempts"] == 1
    assert message["provider_message_id"] == f"outbox-{created['id']}"
    assert message["subject"] == "Order A-17" and message["sent_at"] is not None
    assert message["from_address"] == "Acme <shop@acme.example>"
    assert [e["kind"] for e in message["events"]] == ["queued", "sending", "sent"]

    mime = stored_mime(backend, org, created["id"])
    assert mime["From"] == "Acme <shop@acme.example>"
    assert mime["To"] == "ada@example.com"
    assert mime["Reply-To"] == "help@acme.example"
    assert mime["Subject"] == "Order A-17"
    assert mime["Message-ID"] == f"<{created['id']}@acme.example>"
    assert mime["X-Herald-Message-Id"] == created["id"]
    assert mime["Date"] is not None
    assert mime.get_content_type() == "multipart/alternative"
    assert "List-Unsubscribe" not in mime  # transactional
    html = mime.get_body(preferencelist=("html",)).get_content()
    text = mime.get_body(preferencelist=("plain",)).get_content()
    assert "Hi there" in html and "Hi there" in text
    # Transactional links are not rewritten and carry no pixel.
    assert 'href="https://shop.example/orders/A-17"' in html and "/t/o/" not in html

    listed = client.get("/api/outbox", headers=org.secret_headers).json()
    assert [m["id"] for m in listed["data"]] == [created["id"]]
    assert listed["data"][0]["subject"] == "Order A-17"
    shown = client.get(f"/api/outbox/{created['id']}", headers=org.secret_headers).json()
    assert shown["subject"] == "Order A-17" and shown["to"] == "ada@example.com"
    assert "Hi there" in shown["html"] and "Hi there" in shown["text"]
    assert {"name": "X-Herald-Message-Id", "value": created["id"]} in shown["headers"]
    assert shown["message"]["status"] == "sent"
    raw = client.get(f"/api/outbox/{created['id']}/raw", headers=org.secret_headers)
    assert raw.status_code == 200 and raw.headers["content-type"] == "message/rfc822"
    assert (
        raw.content
        == outbox_path(backend.data_dir, org.org_id, uuid.UUID(created["id"])).read_bytes()
    )


def test_marketing_email_to_a_profile_carries_unsubscribe_headers_and_tracking(
    client: TestClient, backend: Backend
) -> None:
    org = make_org()
    configure(client, org, postal_address="1 Main St, Springfield")
    profile_id = identify(client, org, email="grace@example.com", first_name="Grace")
    created = send(
        client,
        org,
        raw_body(to={"profile_id": profile_id}, marketing=True),
    )
    assert created["profile_id"] == profile_id and created["marketing"] is True
    assert get_message(client, org, created["id"])["status"] == "sent"
    mime = stored_mime(backend, org, created["id"])
    assert mime["To"] == "Grace <grace@example.com>"
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/u/" in mime["List-Unsubscribe"] and "mailto:unsubscribe@acme.example" in str(
        mime["List-Unsubscribe"]
    )
    html = mime.get_body(preferencelist=("html",)).get_content()
    assert "Hi Grace" in html
    assert "/t/c/" in html and "/t/o/" in html  # wrapped link and open pixel
    assert 'href="https://shop.example' not in html


def test_an_address_with_a_profile_is_linked_and_none_is_created(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    profile_id = identify(client, org, email="known@example.com")
    linked = send(client, org, raw_body(to={"email": "KNOWN@example.com"}))
    unknown = send(client, org, raw_body(to={"email": "stranger@example.com"}))
    assert linked["profile_id"] == profile_id
    assert unknown["profile_id"] is None
    profiles = client.get("/api/profiles", headers=org.secret_headers).json()["data"]
    assert [p["email"] for p in profiles] == ["known@example.com"]


def test_sending_with_a_template(client: TestClient, backend: Backend, database: Database) -> None:
    org = make_org()
    with database.transaction() as session:
        template = EmailTemplate(
            org_id=org.org_id,
            name="Welcome",
            kind="transactional",
            subject="Welcome, {{ profile.first_name }}",
            preheader="Glad you are here",
            from_name="Acme Team",
            from_email="team@acme.example",
            body_format="html",
            body="<p>Welcome {{ profile.first_name }}, code {{ data.code }}</p>",
            compiled_html="<html><body><p>Welcome {{ profile.first_name }}, code "
            "{{ data.code }}</p></body></html>",
        )
        session.add(template)
    profile_id = identify(client, org, email="lin@example.com", first_name="Lin")
    created = send(
        client,
        org,
        {"to": {"profile_id": profile_id}, "template_id": str(template.id), "data": {"code": 7}},
    )
    message = get_message(client, org, created["id"])
    assert message["status"] == "sent" and message["subject"] == "Welcome, Lin"
    assert message["template_id"] == str(template.id)
    mime = stored_mime(backend, org, created["id"])
    assert mime["From"] == "Acme Team <team@acme.example>"
    html = mime.get_body(preferencelist=("html",)).get_content()
    assert "Welcome Lin, code 7" in html and "Glad you are here" in html


def test_bad_requests_are_refused_and_queue_nothing(client: TestClient, database: Database) -> None:
    org, other = make_org(), make_org()
    with database.transaction() as session:
        template = EmailTemplate(
            org_id=other.org_id,
            name="Theirs",
            subject="s",
            body="b",
            compiled_html="b",
        )
        session.add(template)
    no_email = identify(client, org, external_id="no-email")
    foreign_profile = identify(client, other, email="theirs@example.com")
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"to": {"email": "a@example.com"}, "subject": "s"}, 422, "body"),
        (raw_body(template_id=str(template.id)), 422, "body"),
        ({"to": {"email": "a@example.com"}, "template_id": str(template.id)}, 422, "template_id"),
        (raw_body(to={"email": "not-an-address"}), 422, "to.email"),
        (raw_body(to={"email": "a@example.com", "profile_id": no_email}), 422, "to"),
        (raw_body(to={"profile_id": no_email}), 422, "to.profile_id"),
        (raw_body(to={"profile_id": foreign_profile}), 404, ""),
        (raw_body(subject="bad \x00"), 422, "subject"),
        (raw_body(send_at="2030-01-01T00:00:00"), 422, "send_at"),
    ]
    for body, code, field in cases:
        response = client.post("/api/messages/email", json=body, headers=org.secret_headers)
        assert response.status_code == code, (body, response.text)
        if field:
            fields = [f["field"] for f in response.json()["error"]["fields"]]
            assert field in fields, (body, fields)
    with database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_a_message_scheduled_for_later_waits(
    client: TestClient, backend: Backend, database: Database
) -> None:
    org = make_org()
    use_real_queue(backend)
    later = utcnow() + timedelta(hours=1)
    created = send(client, org, raw_body(send_at=later.isoformat()))
    drain()  # the kick carries an eta: a worker holds it until then
    assert load(database, created["id"]).status == "queued"
    assert sending.send_message(database, uuid.UUID(created["id"])) == "not-claimed"
    assert load(database, created["id"]).status == "queued"
    with database.transaction() as session:
        session.execute(
            sa.update(Message).values(send_after=utcnow() - batch.KICK_GRACE - timedelta(1))
        )
    run_sweeps()
    drain()
    assert load(database, created["id"]).status == "sent"


# --- Idempotency --------------------------------------------------------------------------------


def test_the_same_idempotency_key_gives_one_message(client: TestClient, database: Database) -> None:
    org = make_org()
    first = send(client, org, raw_body(), key="order-A-17")
    again = client.post(
        "/api/messages/email",
        json=raw_body(),
        headers={**org.secret_headers, "Idempotency-Key": "order-A-17"},
    )
    assert again.status_code == 202 and again.json()["id"] == first["id"]
    # Another credential of the same organization, the same key: still the first message.
    response = client.post(
        "/api/api-keys", json={"name": "second", "kind": "secret"}, headers=org.secret_headers
    )
    second_key = response.json()["key"]
    other = client.post(
        "/api/messages/email",
        json=raw_body(),
        headers={"Authorization": f"Bearer {second_key}", "Idempotency-Key": "order-A-17"},
    )
    assert other.status_code == 202 and other.json()["id"] == first["id"]
    assert other.json()["status"] == "sent"
    # Without a key, each request is a message of its own.
    assert send(client, org, raw_body())["id"] != first["id"]
    with database.transaction() as session:
        keys = list(session.scalars(sa.select(Message.idempotency_key)))
    assert len(keys) == 2 and "transactional:order-A-17" in keys
    assert events_of(database, first["id"]).count("sent") == 1


def test_concurrent_queueing_under_one_key_creates_one_message(
    database: Database, backend: Backend
) -> None:
    org = make_org()
    use_real_queue(backend)
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            with database.transaction() as session:
                message = messages.queue_email(
                    session,
                    org.org_id,
                    source="campaign",
                    idempotency_key="campaign:c1:p1",
                    to_address="race@example.com",
                    raw=messages.RawContent(subject="s", html="<p>h</p>"),
                    marketing=True,
                )
                results.append(str(message.id))
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=30)
    assert errors == []
    assert len(results) == threads and len(set(results)) == 1
    with database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(MessageEvent)) == 1
    # Only the winner kicked a worker.
    assert queued() == [(SEND_TASK, (results[0],))]


# --- Checked at send time -----------------------------------------------------------------------


def _queue_without_sending(
    client: TestClient, backend: Backend, org: OrgFixture, body: dict[str, Any]
) -> str:
    use_real_queue(backend)
    return str(send(client, org, body)["id"])


def _suppress(database: Database, org: OrgFixture, address: str, reason: str) -> None:
    with database.transaction() as session:
        session.add(Suppression(org_id=org.org_id, channel="email", address=address, reason=reason))


def test_suppression_and_consent_are_checked_when_sending(
    client: TestClient, backend: Backend, database: Database
) -> None:
    org = make_org()
    profile_id = identify(client, org, email="withdrawn@example.com")
    use_real_queue(backend)
    suppressed = send(client, org, raw_body(to={"email": "gone@example.com"}, marketing=True))
    withdrawn = send(client, org, raw_body(to={"profile_id": profile_id}, marketing=True))
    unsubscribed_transactional = send(client, org, raw_body(to={"email": "gone@example.com"}))
    bounced_transactional = send(client, org, raw_body(to={"email": "bounced@example.com"}))
    # All of this happens after the messages were queued.
    _suppress(database, org, "gone@example.com", "unsubscribe")
    _suppress(database, org, "bounced@example.com", "hard_bounce")
    with database.transaction() as session:
        session.add(
            Consent(
                org_id=org.org_id,
                profile_id=uuid.UUID(profile_id),
                channel="email",
                granted=False,
                source="api",
            )
        )
    drain()
    assert load(database, suppressed["id"]).status == "suppressed"
    assert load(database, withdrawn["id"]).status == "skipped"
    # An unsubscribe stops marketing only; a hard bounce stops everything.
    assert load(database, unsubscribed_transactional["id"]).status == "sent"
    assert load(database, bounced_transactional["id"]).status == "suppressed"
    detail = get_message(client, org, suppressed["id"])
    assert [e["kind"] for e in detail["events"]] == ["queued", "sending", "suppressed"]
    assert detail["events"][-1]["data"]["reason"] == "the address is on the suppression list"
    for message_id in (suppressed["id"], withdrawn["id"], bounced_transactional["id"]):
        assert not outbox_path(backend.data_dir, org.org_id, uuid.UUID(message_id)).exists()
    # A final message is never claimed again.
    assert sending.send_message(database, uuid.UUID(suppressed["id"])) == "done"


# --- Crashes and the sweep ----------------------------------------------------------------------


def _make_stale(database: Database, message_id: str) -> None:
    with database.transaction() as session:
        session.execute(
            sa.update(Message)
            .where(Message.id == uuid.UUID(message_id))
            .values(heartbeat_at=utcnow() - batch.STALE_AFTER - timedelta(seconds=1))
        )


def test_a_worker_that_dies_after_claiming_leaves_the_message_for_the_sweep(
    client: TestClient, backend: Backend, database: Database
) -> None:
    org = make_org()
    message_id = _queue_without_sending(client, backend, org, raw_body())
    # A worker claims the message, commits, and dies before sending.
    with database.transaction() as session:
        prepared = claiming.claim_and_prepare(session, uuid.UUID(message_id))
    assert not isinstance(prepared, str)
    assert load(database, message_id).status == "sending"
    huey_kick = queued()
    assert huey_kick == [(SEND_TASK, (message_id,))]
    # The kick is delivered again: the claim is still fresh, so nothing happens.
    drain()
    assert load(database, message_id).status == "sending"
    assert run_sweeps()["email.messages"] == 0
    _make_stale(database, message_id)
    assert run_sweeps()["email.messages"] == 1
    drain()
    message = load(database, message_id)
    assert message.status == "sent" and message.attempts == 2
    assert events_of(database, message_id) == ["queued", "sending", "sending", "sent"]
    assert outbox_path(backend.data_dir, org.org_id, uuid.UUID(message_id)).exists()


def test_a_crash_between_sending_and_recording_sends_once(
    client: TestClient, backend: Backend, database: Database
) -> None:
    org = make_org()
    message_id = _queue_without_sending(client, backend, org, raw_body())
    huey_queue = queued()
    assert len(huey_queue) == 1
    with database.transaction() as session:
        prepared = claiming.claim_and_prepare(session, uuid.UUID(message_id))
    assert not isinstance(prepared, str)
    prepared.provider.send(prepared.email)  # handed over; the worker dies before recording it
    path = outbox_path(backend.data_dir, org.org_id, uuid.UUID(message_id))
    first_copy = path.read_bytes()
    _make_stale(database, message_id)
    run_sweeps()
    drain()
    assert load(database, message_id).status == "sent"
    assert path.read_bytes() == first_copy  # stored once, not replaced by a second copy
    assert len(list(path.parent.iterdir())) == 1
    assert events_of(database, message_id).count("sent") == 1
    # More kicks change nothing.
    assert sending.send_message(database, uuid.UUID(message_id)) == "done"


def test_a_lost_kick_is_resent_by_the_sweep(
    client: TestClient, backend: Backend, database: Database
) -> None:
    org = make_org()
    message_id = _queue_without_sending(client, backend, org, raw_body())
    from herald.worker import huey

    huey.flush()  # Redis lost the kick
    assert run_sweeps()["email.messages"] == 0  # too early to tell a lost kick from a slow one
    with database.transaction() as session:
        session.execute(
            sa.update(Message).values(created_at=utcnow() - batch.KICK_GRACE - timedelta(1))
        )
    assert run_sweeps()["email.messages"] == 1
    drain()
    assert load(database, message_id).status == "sent"


# --- Provider errors ----------------------------------------------------------------------------


class FlakyProvider:
    name = "flaky"

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[OutgoingEmail] = []

    def send(self, email: OutgoingEmail) -> SendResult:
        self.calls.append(email)
        if self.errors:
            raise self.errors.pop(0)
        return SendResult(provider_message_id=f"flaky-{email.message_id}")


def _use_provider(monkeypatch: pytest.MonkeyPatch, provider: FlakyProvider) -> None:
    monkeypatch.setattr(claiming, "get_provider", lambda _settings: provider)


def _due_now(database: Database, message_id: str) -> None:
    with database.transaction() as session:
        session.execute(
            sa.update(Message)
            .where(Message.id == uuid.UUID(message_id))
            .values(send_after=utcnow() - timedelta(seconds=1))
        )


def test_transient_errors_retry_with_backoff_then_fail(
    client: TestClient, backend: Backend, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org()
    provider = FlakyProvider(*[TransientSendError("421 try later", code=421)] * 10)
    _use_provider(monkeypatch, provider)
    message_id = _queue_without_sending(client, backend, org, raw_body())
    before = utcnow()
    assert sending.send_message(database, uuid.UUID(message_id)) == "retry"
    message = load(database, message_id)
    assert message.status == "queued" and message.error == "421 try later"
    assert message.send_after is not None
    assert message.send_after >= before + batch.RETRY_DELAYS[0]
    # Not before its time.
    assert sending.send_message(database, uuid.UUID(message_id)) == "not-claimed"
    for _attempt in range(2, batch.MAX_ATTEMPTS):
        _due_now(database, message_id)
        assert sending.send_message(database, uuid.UUID(message_id)) == "retry"
    _due_now(database, message_id)
    assert sending.send_message(database, uuid.UUID(message_id)) == "failed"
    message = load(database, message_id)
    assert message.status == "failed" and message.attempts == batch.MAX_ATTEMPTS
    assert "gave up after 5 attempts" in (message.error or "")
    assert len(provider.calls) == batch.MAX_ATTEMPTS
    # Every attempt went out with the same identity.
    assert {c.idempotency_key for c in provider.calls} == {message.idempotency_key}
    kinds = events_of(database, message_id)
    assert kinds.count("sending") == batch.MAX_ATTEMPTS and kinds[-1] == "failed"


def test_a_transient_error_then_success(
    client: TestClient, backend: Backend, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org()
    provider = FlakyProvider(TransientSendError("timed out"))
    _use_provider(monkeypatch, provider)
    message_id = _queue_without_sending(client, backend, org, raw_body())
    assert sending.send_message(database, uuid.UUID(message_id)) == "retry"
    _due_now(database, message_id)
    assert sending.send_message(database, uuid.UUID(message_id)) == "sent"
    message = load(database, message_id)
    assert message.status == "sent" and message.error is None
    assert message.provider == "flaky" and message.provider_message_id == f"flaky-{message_id}"


def test_a_permanent_error_fails_at_once(
    client: TestClient, backend: Backend, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org()
    provider = FlakyProvider(PermanentSendError("550 no such user", code=550))
    _use_provider(monkeypatch, provider)
    message_id = _queue_without_sending(client, backend, org, raw_body())
    drain()
    detail = get_message(client, org, message_id)
    assert detail["status"] == "failed" and detail["error"] == "550 no such user"
    assert detail["events"][-1]["kind"] == "failed"
    assert len(provider.calls) == 1


def test_a_template_that_fails_to_render_fails_the_message(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    created = send(client, org, raw_body(subject="{{ broken "))
    detail = get_message(client, org, created["id"])
    assert detail["status"] == "failed" and detail["error"]


# --- Reading the ledger -------------------------------------------------------------------------


def test_listing_messages_with_filters_and_pages(client: TestClient) -> None:
    org = make_org()
    profile_id = identify(client, org, email="p@example.com")
    ids = [send(client, org, raw_body())["id"] for _ in range(3)]
    mine = send(client, org, raw_body(to={"profile_id": profile_id}))["id"]
    page = client.get("/api/messages", params={"limit": 2}, headers=org.secret_headers).json()
    assert [m["id"] for m in page["data"]] == [mine, ids[2]]
    rest = client.get(
        "/api/messages",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=org.secret_headers,
    ).json()
    assert [m["id"] for m in rest["data"]] == [ids[1], ids[0]] and rest["next_cursor"] is None
    by_profile = client.get(
        "/api/messages", params={"profile_id": profile_id}, headers=org.secret_headers
    ).json()
    assert [m["id"] for m in by_profile["data"]] == [mine]
    for params, count in (
        ({"status": "sent"}, 4),
        ({"status": "queued"}, 0),
        ({"source": "transactional"}, 4),
        ({"source": "campaign"}, 0),
    ):
        found = client.get("/api/messages", params=params, headers=org.secret_headers).json()
        assert len(found["data"]) == count, params
    bad = client.get("/api/messages", params={"status": "nope"}, headers=org.secret_headers)
    assert bad.status_code == 422


def test_a_message_names_the_flow_that_sent_it(client: TestClient, database: Database) -> None:
    org, other = make_org(), make_org("Other")
    flows = {}
    with database.transaction() as session:
        for owner, name in ((org, "Welcome series"), (other, "Their flow")):
            flow = Flow(org_id=owner.org_id, name=name, trigger_type="api", definition={})
            session.add(flow)
            session.flush()
            flows[name] = flow.id
        queued_ids = [
            messages.queue_email(
                session,
                org.org_id,
                source="flow",
                source_id=flows[name],
                idempotency_key=f"flow-{name}",
                to_address="p@example.com",
                raw=messages.RawContent(subject="Hi", html="<p>Hi</p>"),
                kick=False,
            ).id
            for name in ("Welcome series", "Their flow")
        ]
    ours, theirs = (get_message(client, org, str(i)) for i in queued_ids)
    assert (ours["source"], ours["source_name"]) == ("flow", "Welcome series")
    # Another organization's flow is not named; nor is anything for the transactional API.
    assert theirs["source_name"] is None
    assert send(client, org, raw_body())["source_name"] is None


def test_messages_and_the_outbox_are_tenant_isolated(client: TestClient) -> None:
    owner, intruder = make_org(), make_org()
    message_id = send(client, owner, raw_body())["id"]
    endpoints = [
        Endpoint("GET", "/api/messages/{id}"),
        Endpoint("GET", "/api/outbox/{id}"),
        Endpoint("GET", "/api/outbox/{id}/raw"),
    ]
    assert_isolated(
        client, owner, intruder, message_id, endpoints, Endpoint("GET", "/api/messages/{id}")
    )
    assert client.get("/api/messages", headers=intruder.secret_headers).json()["data"] == []
    assert client.get("/api/outbox", headers=intruder.secret_headers).json()["data"] == []
    assert_management_only(
        client,
        owner,
        message_id,
        [
            *endpoints,
            Endpoint("GET", "/api/messages"),
            Endpoint("GET", "/api/outbox"),
            Endpoint("POST", "/api/messages/email", json=raw_body()),
            Endpoint("GET", "/api/email/settings"),
            Endpoint("PUT", "/api/email/settings", json={}),
        ],
    )


def test_merging_profiles_moves_their_messages(client: TestClient, database: Database) -> None:
    org = make_org()
    anonymous = client.post(
        "/api/track",
        json={"event": "Viewed", "profile": {"anonymous_id": "anon-9"}},
        headers=org.public_headers,
    )
    assert anonymous.status_code == 202
    known = identify(client, org, email="merge@example.com")
    message_id = send(client, org, raw_body(to={"profile_id": known}))["id"]
    survivor = identify(client, org, email="merge@example.com", anonymous_id="anon-9")
    assert load(database, message_id).profile_id == uuid.UUID(survivor)


def test_erasing_a_profile_forgets_its_messages_content(
    client: TestClient, backend: Backend, database: Database
) -> None:
    org = make_org()
    profile_id = identify(client, org, email="erase@example.com")
    sent = send(client, org, raw_body(to={"profile_id": profile_id}))["id"]
    use_real_queue(backend)
    waiting = send(client, org, raw_body(to={"profile_id": profile_id}))["id"]
    response = client.delete(f"/api/profiles/{profile_id}", headers=org.secret_headers)
    assert response.status_code == 204, response.text
    drain()
    for message_id in (sent, waiting):
        message = load(database, message_id)
        assert message.to_address == "" and message.content == {} and message.profile_id is None
    assert load(database, sent).status == "sent"
    assert load(database, waiting).status == "skipped"


# --- Settings -----------------------------------------------------------------------------------


def _rsa_pem(bits: int = 2048) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def test_email_settings_keep_secrets_write_only_and_encrypted(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    empty = client.get("/api/email/settings", headers=org.secret_headers).json()
    assert empty["provider"] == "outbox" and empty["smtp"] is None and not empty["dkim_key_set"]
    pem = _rsa_pem()
    body = {
        "provider": "smtp",
        "smtp": {
            "host": "smtp.acme.example",
            "port": 465,
            "security": "ssl",
            "username": "mailer",
            "password": "s3cret-Pa55",
        },
        "default_from_email": "Shop@Acme.example",
        "postal_address": "1 Main St",
        "dkim_domain": "Acme.Example",
        "dkim_selector": "herald1",
        "dkim_private_key": pem,
    }
    saved = client.put("/api/email/settings", json=body, headers=org.secret_headers)
    assert saved.status_code == 200, saved.text
    shown = saved.json()
    assert "s3cret-Pa55" not in saved.text and "PRIVATE KEY" not in saved.text
    assert shown["smtp"]["password_set"] is True and shown["smtp"]["username"] == "mailer"
    assert shown["default_from_email"] == "shop@acme.example"
    assert shown["dkim_domain"] == "acme.example" and shown["dkim_key_set"] is True
    assert shown["dkim_record"]["name"] == "herald1._domainkey.acme.example"
    assert shown["dkim_record"]["value"].startswith("v=DKIM1; k=rsa; p=")
    assert client.get("/api/email/settings", headers=org.secret_headers).json() == shown
    with database.transaction() as session:
        row = session.get(EmailSettings, org.org_id)
        assert row is not None and row.provider_config and row.dkim_private_key
        assert "s3cret" not in row.provider_config and "PRIVATE" not in row.dkim_private_key
        assert decrypt_config(row)["smtp"]["password"] == "s3cret-Pa55"

    # Saved again without the secrets: both are kept.
    body["smtp"] = {k: v for k, v in body["smtp"].items() if k != "password"}
    del body["dkim_private_key"]
    body["smtp"]["port"] = 2465
    again = client.put("/api/email/settings", json=body, headers=org.secret_headers).json()
    assert again["smtp"]["port"] == 2465 and again["smtp"]["password_set"] is True
    assert again["dkim_key_set"] is True
    # Explicit nulls remove them.
    body["smtp"]["password"] = None
    body.update(dkim_private_key=None, dkim_domain=None, dkim_selector=None)
    cleared = client.put("/api/email/settings", json=body, headers=org.secret_headers).json()
    assert cleared["smtp"]["password_set"] is False and cleared["dkim_key_set"] is False


def test_email_settings_are_validated(client: TestClient) -> None:
    org = make_org()
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cases: list[tuple[dict[str, Any], str]] = [
        ({"provider": "smtp"}, "smtp"),
        ({"provider": "ses"}, "provider"),
        (
            {"dkim_domain": "acme.example", "dkim_selector": "s1", "dkim_private_key": "junk"},
            "dkim_private_key",
        ),
        (
            {
                "dkim_domain": "acme.example",
                "dkim_selector": "s1",
                "dkim_private_key": ec_key.decode(),
            },
            "dkim_private_key",
        ),
        ({"dkim_domain": "acme.example", "dkim_selector": "s1"}, "dkim_private_key"),
        ({"dkim_private_key": _rsa_pem()}, "dkim_domain"),
        ({"dkim_domain": "not a domain", "dkim_selector": "s1"}, "dkim_domain"),
        ({"default_from_email": "nope"}, "default_from_email"),
        ({"provider": "smtp", "smtp": {"host": "h", "security": "tls"}}, "smtp.security"),
        (
            {"provider": "smtp", "smtp": {"host": "h", "ca_certificate": "junk"}},
            "smtp.ca_certificate",
        ),
    ]
    for body, field in cases:
        response = client.put("/api/email/settings", json=body, headers=org.secret_headers)
        assert response.status_code == 422, (body, response.text)
        fields = [f["field"] for f in response.json()["error"]["fields"]]
        assert field in fields, (body, fields)
    assert (
        client.get("/api/email/settings", headers=org.secret_headers).json()["updated_at"] is None
    )


def test_only_admins_see_or_change_email_settings(client: TestClient) -> None:
    org = make_org()
    email_address, password = make_user(org, role="member")
    csrf = sign_in(client, email_address, password)
    assert client.get("/api/email/settings").status_code == 403
    response = client.put("/api/email/settings", json={}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 403


def test_dkim_signed_messages_in_the_outbox(client: TestClient, backend: Backend) -> None:
    import dkim

    org = make_org()
    pem = _rsa_pem()
    settings = configure(
        client, org, dkim_domain="acme.example", dkim_selector="s1", dkim_private_key=pem
    )
    record = settings["dkim_record"]["value"].encode()
    created = send(client, org, raw_body(marketing=True))
    raw = outbox_path(backend.data_dir, org.org_id, uuid.UUID(created["id"])).read_bytes()
    assert raw.startswith(b"DKIM-Signature:")

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s1._domainkey.acme.example."
        return record

    assert dkim.verify(raw, dnsfunc=dns)


def test_outbox_writes_are_atomic_and_idempotent(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path)
    email_ = OutgoingEmail(
        message_id=uuid.uuid4(),
        org_id=uuid.uuid4(),
        idempotency_key="k",
        envelope_from="a@example.com",
        envelope_to=["b@example.com"],
        mime=b"Subject: one\r\n\r\nbody\r\n",
    )
    first = provider.send(email_)
    second = provider.send(
        OutgoingEmail(**{**email_.__dict__, "mime": b"Subject: two\r\n\r\nbody\r\n"})
    )
    assert first == second
    path = outbox_path(tmp_path, email_.org_id, email_.message_id)
    assert path.read_bytes() == email_.mime
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left


def test_marketing_email_without_a_postal_address_is_not_sent(client: TestClient) -> None:
    org = make_org()
    created = send(client, org, raw_body(marketing=True))
    shown = client.get(f"/api/messages/{created['id']}", headers=org.secret_headers).json()
    assert shown["status"] == "failed"
    assert "postal address" in shown["error"]
