"""Webhook steps against a real receiver on loopback: the signed request, retries on 5xx and
timeouts only, failures on the rest, and refusal of addresses that are not public at delivery."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from herald.db import Database, utcnow
from herald.flows import enrolments, webhooks
from herald.outbound import SIGNATURE_HEADER, allow_networks, verify_signature
from tests.flows.engine_helpers import (
    enrolments_of,
    make_flow,
    make_profiles,
    run,
    runs_of,
    sending_org,
)

LOOPBACK = "127.0.0.0/8"


class Receiver(BaseHTTPRequestHandler):
    # Per path: the statuses to answer, in turn (the last one repeats); "slow" sleeps.
    plans: dict[str, list[Any]] = {}
    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Receiver.received.append((self.path, dict(self.headers.items()), body))
        plan = Receiver.plans.get(self.path, [200])
        answer = plan.pop(0) if len(plan) > 1 else plan[0]
        if answer in ("slow", "slower"):
            time.sleep(1.5 if answer == "slow" else 5)
            answer = 200
        self.send_response(answer)
        if answer == 302:
            self.send_header("Location", "/elsewhere")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    Receiver.plans = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def webhook_flow(url: str, body: str | None = None) -> dict[str, Any]:
    return {
        "trigger": {"type": "api"},
        "start": "hook",
        "steps": [
            {
                "id": "hook",
                "type": "webhook",
                "webhook": {
                    "url": url,
                    "headers": {"X-Shop": "acme"},
                    **({"body": body} if body is not None else {}),
                },
                "outputs": {"next": None},
            }
        ],
    }


def _enrol(database: Database, url: str, body: str | None = None) -> tuple[Any, uuid.UUID]:
    org, _ = sending_org(database)
    flow_id = make_flow(database, org.org_id, webhook_flow(url, body))
    (profile_id,) = make_profiles(database, org.org_id, 1)
    with database.transaction() as session:
        enrolments.enrol_by_api(session, org.org_id, flow_id, profile_id, {"plan": "pro"})
    return org, flow_id


def test_a_delivery_is_signed_with_the_organizations_secret(
    database: Database, receiver: str
) -> None:
    org, flow_id = _enrol(
        database,
        f"{receiver}/hook",
        body='{"email": {{ profile.email | tojson }}, "plan": {{ event.plan | tojson }}}',
    )
    with allow_networks(LOOPBACK):
        run(database)
    ((path, headers, body),) = Receiver.received
    assert path == "/hook"
    (enrolment,) = enrolments_of(database, flow_id)
    assert json.loads(body)["plan"] == "pro"
    assert headers["X-Shop"] == "acme"
    assert headers["Content-Type"] == "application/json"
    assert headers["Herald-Delivery"] == f"{enrolment.id}:hook"
    with database.transaction() as session:
        secret = webhooks.signing_secret(session, org.org_id)
    assert verify_signature(secret, headers[SIGNATURE_HEADER], body)
    assert not verify_signature("whsec_other", headers[SIGNATURE_HEADER], body)
    assert enrolment.status == "completed"
    assert runs_of(database, enrolment.id) == [("hook", "delivered")]


def test_the_default_body_carries_profile_event_and_flow(database: Database, receiver: str) -> None:
    _, flow_id = _enrol(database, f"{receiver}/hook")
    with allow_networks(LOOPBACK):
        run(database)
    ((_, _, body),) = Receiver.received
    sent = json.loads(body)
    assert sent["event"] == {"plan": "pro", "time": sent["event"]["time"]}
    assert sent["flow"]["id"] == str(flow_id)
    assert "@example.com" in sent["profile"]["email"]


def test_5xx_is_retried_with_backoff_until_it_succeeds(database: Database, receiver: str) -> None:
    Receiver.plans["/flaky"] = [503, 500, 200]
    _, flow_id = _enrol(database, f"{receiver}/flaky")
    with allow_networks(LOOPBACK):
        run(database)
        (enrolment,) = enrolments_of(database, flow_id)
        assert (enrolment.status, enrolment.attempts) == ("active", 1)
        assert enrolment.due_at is not None and enrolment.due_at > utcnow() + timedelta(seconds=20)
        run(database, now=utcnow() + timedelta(seconds=31))  # second try: 500
        assert len(Receiver.received) == 2
        run(database, now=utcnow() + timedelta(minutes=1))  # not yet: the pause grew
        assert len(Receiver.received) == 2
        run(database, now=utcnow() + timedelta(minutes=3))
    assert len(Receiver.received) == 3
    (enrolment,) = enrolments_of(database, flow_id)
    assert enrolment.status == "completed"
    # Every try of one step carries the same delivery id.
    assert len({headers["Herald-Delivery"] for _, headers, _ in Receiver.received}) == 1


def test_retries_stop_after_the_last_attempt(database: Database, receiver: str) -> None:
    Receiver.plans["/down"] = [502]
    _, flow_id = _enrol(database, f"{receiver}/down")
    with allow_networks(LOOPBACK):
        run(database)
        for hours in (1, 2, 3, 4, 5):
            run(database, now=utcnow() + timedelta(hours=hours))
    assert len(Receiver.received) == webhooks.MAX_ATTEMPTS
    (enrolment,) = enrolments_of(database, flow_id)
    assert enrolment.status == "failed"
    assert enrolment.exit_reason == "webhook answered 502"


@pytest.mark.parametrize(("answer", "reason"), [(404, "answered 404"), (302, "answered 302")])
def test_4xx_and_redirects_fail_without_retrying(
    database: Database, receiver: str, answer: int, reason: str
) -> None:
    Receiver.plans["/no"] = [answer]
    _, flow_id = _enrol(database, f"{receiver}/no")
    with allow_networks(LOOPBACK):
        run(database)
        run(database, now=utcnow() + timedelta(hours=2))
    assert [path for path, _, _ in Receiver.received] == ["/no"]  # the redirect not followed
    (enrolment,) = enrolments_of(database, flow_id)
    assert (enrolment.status, enrolment.exit_reason) == ("failed", f"webhook {reason}")


def test_a_timeout_is_retried(
    database: Database, receiver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "TIMEOUT", 0.3)
    Receiver.plans["/slow"] = ["slow", 200]
    _, flow_id = _enrol(database, f"{receiver}/slow")
    with allow_networks(LOOPBACK):
        run(database)
        (enrolment,) = enrolments_of(database, flow_id)
        assert enrolment.status == "active"
        run(database, now=utcnow() + timedelta(minutes=1))
    (enrolment,) = enrolments_of(database, flow_id)
    assert enrolment.status == "completed"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_addresses_that_are_not_public_are_refused_at_delivery(
    database: Database, receiver: str, host: str
) -> None:
    port = receiver.rsplit(":", 1)[1]
    _, flow_id = _enrol(database, f"http://{host}:{port}/hook")
    run(database)  # no allowance for loopback here
    assert Receiver.received == []
    (enrolment,) = enrolments_of(database, flow_id)
    assert enrolment.status == "failed"
    assert enrolment.exit_reason is not None
    assert enrolment.exit_reason.startswith("webhook refused:")
    assert "loopback" in enrolment.exit_reason


def test_a_body_template_that_does_not_render_fails_the_step(
    database: Database, receiver: str
) -> None:
    _, flow_id = _enrol(database, f"{receiver}/hook", body="{{ profile.email | nosuchfilter }}")
    with allow_networks(LOOPBACK):
        run(database)
    assert Receiver.received == []
    (enrolment,) = enrolments_of(database, flow_id)
    assert enrolment.status == "failed"
    assert "did not render" in (enrolment.exit_reason or "")


def test_a_slow_receiver_does_not_hold_back_other_steps(database: Database, receiver: str) -> None:
    from herald.flows import engine

    Receiver.plans["/slower"] = ["slower"]
    org, slow_flow = _enrol(database, f"{receiver}/slower")
    other_flow = make_flow(
        database,
        org.org_id,
        {
            "trigger": {"type": "api"},
            "start": "tag",
            "steps": [
                {
                    "id": "tag",
                    "type": "update_profile",
                    "update": {"set": {"seen": True}},
                    "outputs": {"next": None},
                }
            ],
        },
    )
    with allow_networks(LOOPBACK):
        assert engine.run_due(database, webhooks_beside=True) == 1  # the webhook's lease
        (profile_id,) = make_profiles(database, org.org_id, 1)
        with database.transaction() as session:
            enrolments.enrol_by_api(session, org.org_id, other_flow, profile_id, {})
        assert engine.run_due(database, webhooks_beside=True) == 1
        (other,) = enrolments_of(database, other_flow)
        assert other.status == "completed"
        # ... while the slow receiver had not answered yet.
        assert enrolments_of(database, slow_flow)[0].status == "active"
        deadline = time.monotonic() + 30
        while enrolments_of(database, slow_flow)[0].status != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert len(Receiver.received) == 1
