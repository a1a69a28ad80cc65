"""The flow SMS step: it sends through the SMS campaigns' path (the ledger, the consent rule, quiet
hours, the opt-out sentence) exactly once per enrolment and step, records per-step outcomes,
sends saved SMS templates, and is validated like SMS campaigns' text."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database, utcnow
from herald.flows import engine
from herald.models import FlowEnrolment, FlowStepRun, Message
from tests.factories import OrgFixture, make_org
from tests.fakes.twilio import FakeTwilio
from tests.flows.api import create_flow, fields, publish
from tests.flows.engine_helpers import run
from tests.sms.conftest import configure, fake_twilio_for


@pytest.fixture
def twilio(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTwilio]:
    with fake_twilio_for(monkeypatch) as fake:
        yield fake


def sms_flow(sms: dict[str, Any]) -> dict[str, Any]:
    return {
        "trigger": {"type": "api"},
        "start": "text",
        "steps": [
            {"id": "text", "type": "send_sms", "sms": sms, "outputs": {"next": None}},
        ],
    }


def person(client: TestClient, org: OrgFixture, email: str, **fields_: Any) -> str:
    response = client.post(
        "/api/profiles", json={"email": email, **fields_}, headers=org.secret_headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def subscribed(phone: str) -> dict[str, Any]:
    return {
        "phone": phone,
        "timezone": "UTC",
        "consent": {"sms": {"status": "subscribed", "method": "form"}},
    }


def enrol(client: TestClient, org: OrgFixture, flow_id: str, email: str, **payload: Any) -> str:
    response = client.post(
        f"/api/flows/{flow_id}/enrol",
        json={"profile": {"email": email}, "payload": payload},
        headers=org.secret_headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["enrolment_id"])


def outcomes(database: Database, flow_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    with database.transaction() as session:
        rows = session.execute(
            sa.select(FlowStepRun.enrolment_id, FlowStepRun.outcome, FlowStepRun.detail).where(
                FlowStepRun.flow_id == uuid.UUID(flow_id)
            )
        ).all()
    return {str(e): (o, d) for e, o, d in rows}


def sms_of(database: Database, flow_id: str) -> list[Message]:
    with database.transaction() as session:
        return list(
            session.scalars(
                sa.select(Message).where(
                    Message.source_id == uuid.UUID(flow_id), Message.channel == "sms"
                )
            )
        )


def test_the_sms_step_sends_through_the_campaign_path_once_each(
    client: TestClient,
    twilio: FakeTwilio,
    database: Database,
) -> None:
    org = make_org()
    configure(client, org, twilio)
    person(client, org, "ada@example.com", first_name="Ada", **subscribed("+14155550301"))
    person(client, org, "bob@example.com", phone="+14155550302")  # no SMS consent
    person(client, org, "cy@example.com", consent={"sms": {"status": "subscribed"}})  # no phone
    flow = create_flow(
        client,
        org,
        sms_flow(
            {
                "body": "Hi {{ profile.first_name }}, your {{ event.item }} is waiting",
                # Off so that the step done again below reaches the ledger's key.
                "smart_sending": False,
            }
        ),
    )
    publish(client, org, flow["id"])
    ada = enrol(client, org, flow["id"], "ada@example.com", item="teapot")
    bob = enrol(client, org, flow["id"], "bob@example.com", item="cup")
    cy = enrol(client, org, flow["id"], "cy@example.com", item="pot")
    run(database)

    assert [m.body for m in twilio.messages] == [
        "Hi Ada, your teapot is waiting\nReply STOP to opt out."
    ]
    found = outcomes(database, flow["id"])
    assert found[ada][0] == "sent"
    assert found[bob] == ("skipped", {"reason": "no current SMS consent"})
    assert found[cy][0] == "skipped" and "phone" in found[cy][1]["reason"]
    (message,) = sms_of(database, flow["id"])
    assert (message.source, message.marketing, message.status) == ("flow", True, "sent")

    results = client.get(f"/api/flows/{flow['id']}/results", headers=org.secret_headers).json()
    (step,) = results["steps"]
    assert step["outcomes"] == {"sent": 1, "skipped": 2}
    assert step["messages"]["sent"] == 1

    # The step done again (a batch whose commit was lost, a retried claim) finds the message
    # its key already has: nothing new is queued or sent.
    with database.transaction() as session:
        session.execute(sa.delete(FlowStepRun).where(FlowStepRun.enrolment_id == uuid.UUID(ada)))
        session.execute(
            sa.update(FlowEnrolment)
            .where(FlowEnrolment.id == uuid.UUID(ada))
            .values(status="active", current_step="text", due_at=utcnow(), finished_at=None)
        )
    run(database)
    assert len(sms_of(database, flow["id"])) == 1
    assert len(twilio.messages) == 1
    assert outcomes(database, flow["id"])[ada][0] == "sent"


def test_a_batch_that_fails_before_its_commit_queues_nothing_and_runs_again(
    client: TestClient,
    twilio: FakeTwilio,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org = make_org()
    configure(client, org, twilio)
    for i in range(3):
        person(client, org, f"p{i}@example.com", **subscribed(f"+1415555031{i}"))
    flow = create_flow(client, org, sms_flow({"body": "Sale today"}))
    publish(client, org, flow["id"])
    for i in range(3):
        enrol(client, org, flow["id"], f"p{i}@example.com")

    real_write = engine.Batch.write
    calls = {"n": 0}

    def crash_once(self: engine.Batch) -> None:
        calls["n"] += 1
        real_write(self)
        if calls["n"] == 1:
            raise ConnectionResetError("the worker died before its commit")

    monkeypatch.setattr(engine.Batch, "write", crash_once)
    with pytest.raises(ConnectionResetError):
        engine._run_batch(database, 500, None)
    assert sms_of(database, flow["id"]) == [] and twilio.messages == []
    run(database)
    assert sorted(m.to_address for m in sms_of(database, flow["id"])) == [
        "+14155550310",
        "+14155550311",
        "+14155550312",
    ]
    assert len(twilio.messages) == 3


def test_quiet_hours_defer_the_message_to_the_morning(
    client: TestClient,
    twilio: FakeTwilio,
    database: Database,
) -> None:
    org = make_org()
    now = datetime.now(UTC)
    configure(
        client, org, twilio, quiet_hours=True, quiet_start=now.hour, quiet_end=(now.hour + 1) % 24
    )
    person(client, org, "ada@example.com", **subscribed("+14155550321"))
    flow = create_flow(client, org, sms_flow({"body": "Morning deals"}))
    publish(client, org, flow["id"])
    ada = enrol(client, org, flow["id"], "ada@example.com")
    run(database)
    outcome, detail = outcomes(database, flow["id"])[ada]
    next_hour = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    assert outcome == "deferred" and detail["reason"] == "quiet hours"
    assert datetime.fromisoformat(detail["until"]) == next_hour
    (message,) = sms_of(database, flow["id"])
    assert message.status == "queued" and message.send_after == next_hour
    assert twilio.messages == []


def test_a_saved_sms_template_is_sent_and_a_deleted_one_skipped(
    client: TestClient,
    twilio: FakeTwilio,
    database: Database,
) -> None:
    org = make_org()
    configure(client, org, twilio)
    for name in ("ada", "bob"):
        person(
            client,
            org,
            f"{name}@example.com",
            first_name=name.title(),
            **subscribed("+14155550331" if name == "ada" else "+14155550332"),
        )
    created = client.post(
        "/api/sms/templates",
        json={"name": "Welcome", "body": "Welcome {{ profile.first_name }}! Reply STOP to stop."},
        headers=org.secret_headers,
    )
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    flow = create_flow(client, org, sms_flow({"template_id": template_id}))
    publish(client, org, flow["id"])
    ada = enrol(client, org, flow["id"], "ada@example.com")
    run(database)
    assert [m.body for m in twilio.messages] == ["Welcome Ada! Reply STOP to stop."]
    deleted = client.delete(f"/api/sms/templates/{template_id}", headers=org.secret_headers)
    assert deleted.status_code == 204
    bob = enrol(client, org, flow["id"], "bob@example.com")
    run(database)
    found = outcomes(database, flow["id"])
    assert found[ada] == ("sent", {"template_id": template_id})
    assert found[bob] == ("skipped", {"reason": "the SMS template was deleted"})
    assert len(twilio.messages) == 1


def test_a_draft_sms_step_records_and_sends_nothing(
    client: TestClient,
    twilio: FakeTwilio,
    database: Database,
) -> None:
    org = make_org()
    configure(client, org, twilio)
    person(client, org, "ada@example.com", **subscribed("+14155550341"))
    flow = create_flow(client, org, sms_flow({"body": "Draft text", "status": "draft"}))
    publish(client, org, flow["id"])
    ada = enrol(client, org, flow["id"], "ada@example.com")
    run(database)
    assert outcomes(database, flow["id"])[ada] == ("draft", {"body": "Draft text"})
    assert sms_of(database, flow["id"]) == [] and twilio.messages == []


def test_sms_steps_are_validated_naming_the_field(client: TestClient) -> None:
    org, other = make_org(), make_org()

    def attempt(sms: dict[str, Any]) -> dict[str, str]:
        response = client.post(
            "/api/flows",
            json={"name": "Texts", "definition": sms_flow(sms)},
            headers=org.secret_headers,
        )
        return fields(response)

    broken = attempt({"body": "Hi {{ profile.first_name "})
    assert list(broken) == ["definition.steps[0].sms.body"]
    assert "line 1" in broken["definition.steps[0].sms.body"]
    both = attempt({"body": "Hi", "template_id": "6a0c2d4e-8f13-4b1e-9a7d-2c5e8f1a3b47"})
    assert list(both) == ["definition.steps[0].sms"]
    assert list(attempt({})) == ["definition.steps[0].sms"]
    assert list(attempt({"body": "x" * 1601})) == ["definition.steps[0].sms.body"]
    assert list(attempt({"body": "Hi", "smart_sending_hours": 0})) == [
        "definition.steps[0].sms.smart_sending_hours"
    ]

    # A draft may hold an unwritten text; publishing asks for it, and for a template of the
    # organization's own.
    draft = create_flow(client, org, sms_flow({"body": ""}))
    assert fields(client.post(f"/api/flows/{draft['id']}/publish", headers=org.secret_headers)) == {
        "definition.steps[0].sms.body": "write the text (or choose a saved SMS template)"
    }
    theirs = client.post(
        "/api/sms/templates", json={"name": "Theirs", "body": "Hi"}, headers=other.secret_headers
    ).json()["id"]
    foreign = create_flow(client, org, sms_flow({"template_id": theirs}))
    problems = fields(
        client.post(f"/api/flows/{foreign['id']}/publish", headers=org.secret_headers)
    )
    assert list(problems) == ["definition.steps[0].sms.template_id"]


def test_trying_a_flow_renders_its_sms_for_the_profile(client: TestClient) -> None:
    org = make_org()
    ada = person(client, org, "ada@example.com", first_name="Ada", **subscribed("+14155550351"))
    bob = person(client, org, "bob@example.com", first_name="Bob", phone="+14155550352")
    flow = create_flow(
        client, org, sms_flow({"body": "Hi {{ profile.first_name }}: {{ event.item }}"})
    )

    def trial(profile_id: str) -> dict[str, Any]:
        response = client.post(
            f"/api/flows/{flow['id']}/test",
            json={"profile_id": profile_id, "payload": {"item": "teapot"}},
            headers=org.secret_headers,
        )
        assert response.status_code == 200, response.text
        (step,) = response.json()["path"]
        return dict(step)

    sent = trial(ada)
    assert (sent["outcome"], sent["sms_body"]) == ("would_send", "Hi Ada: teapot")
    refused = trial(bob)
    assert (refused["outcome"], refused["detail"]) == ("would_skip", "no current SMS consent")
    assert refused["sms_body"] == "Hi Bob: teapot"
