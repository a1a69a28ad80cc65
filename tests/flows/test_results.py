"""A flow's results through the API: people (entered, standing at each step, completed, exited
by reason), each step's outcomes, the messages' figures, and the conversions credited by the one
attribution rule (which a later touch of a campaign takes away)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database, utcnow
from herald.messaging import ledger
from herald.models import FlowStepRun, Message
from tests.factories import OrgFixture
from tests.flows.api import create_flow, publish
from tests.flows.engine_helpers import hand_off, run, sending_org, track


def split_flow(template_id: str) -> dict[str, Any]:
    """API trigger; totals over 100 get an email then wait a day, the rest leave at an exit."""
    return {
        "trigger": {"type": "api"},
        "start": "big",
        "steps": [
            {
                "id": "big",
                "type": "trigger_split",
                "filters": [{"property": "total", "operator": "greater_than", "value": 100}],
                "outputs": {"yes": "email", "no": "bye"},
            },
            {
                "id": "email",
                "type": "send_email",
                "name": "Thanks",
                "email": {"template_id": template_id},
                "outputs": {"next": "later"},
            },
            {
                "id": "later",
                "type": "delay",
                "delay": {"amount": 1, "unit": "days"},
                "outputs": {"next": None},
            },
            {"id": "bye", "type": "exit"},
        ],
    }


def enrol(client: TestClient, org: OrgFixture, flow_id: str, email: str, total: int) -> None:
    response = client.post(
        f"/api/flows/{flow_id}/enrol",
        json={"profile": {"email": email}, "payload": {"total": total}},
        headers=org.secret_headers,
    )
    assert response.status_code == 201, response.text


def touch(database: Database, message_id: uuid.UUID, kind: str, **kw: Any) -> None:
    with database.transaction() as session:
        message = session.get(Message, message_id)
        assert message is not None
        ledger.record_event(session, message, kind, **kw)


def flow_message_ids(database: Database, flow_id: str) -> dict[str, uuid.UUID]:
    """The flow's messages by recipient address."""
    with database.transaction() as session:
        rows = session.execute(
            sa.select(Message.to_address, Message.id)
            .join(FlowStepRun, FlowStepRun.message_id == Message.id)
            .where(FlowStepRun.flow_id == uuid.UUID(flow_id))
        )
        return {address: message_id for address, message_id in rows}


def results(client: TestClient, org: OrgFixture, flow_id: str) -> dict[str, Any]:
    response = client.get(f"/api/flows/{flow_id}/results", headers=org.secret_headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_people_steps_messages_and_conversions(client: TestClient, database: Database) -> None:
    org, template_id = sending_org(database)
    flow = create_flow(client, org, split_flow(str(template_id)))
    publish(client, org, flow["id"])
    enrol(client, org, flow["id"], "ann@example.com", 150)
    enrol(client, org, flow["id"], "bob@example.com", 300)
    enrol(client, org, flow["id"], "cat@example.com", 20)
    run(database)

    messages = flow_message_ids(database, flow["id"])
    assert sorted(messages) == ["ann@example.com", "bob@example.com"]
    touch(database, messages["ann@example.com"], "opened")
    touch(database, messages["ann@example.com"], "clicked", data={"url": "https://acme.example"})
    touch(database, messages["bob@example.com"], "opened", machine=True)
    touch(database, messages["bob@example.com"], "unsubscribed")
    order = {"event": "Placed Order", "profile": {"email": "ann@example.com"}, "value": 40}
    assert client.post("/api/track", json=order, headers=org.public_headers).status_code == 202

    figures = results(client, org, flow["id"])
    assert figures["entered"] == 3
    assert (figures["active"], figures["waiting"], figures["completed"]) == (2, 0, 0)
    assert figures["exited"] == {"exit step": 1}
    assert figures["failed"] == 0
    assert figures["messages"] == {
        "sent": 2,
        "delivered": 0,
        "bounced": 0,
        "opened": 1,
        "clicked": 1,
        "unsubscribed": 1,
    }
    assert (figures["conversions"], figures["revenue"]) == (1, 40.0)
    steps = {s["step_id"]: s for s in figures["steps"]}
    assert list(steps) == ["big", "email", "later", "bye"]
    assert steps["big"]["outcomes"] == {"yes": 2, "no": 1}
    assert steps["email"]["name"] == "Thanks"
    assert steps["email"]["outcomes"] == {"sent": 2}
    assert steps["email"]["messages"]["sent"] == 2
    assert (steps["email"]["conversions"], steps["email"]["revenue"]) == (1, 40.0)
    assert steps["later"]["active"] == 2 and steps["later"]["outcomes"] == {}
    assert steps["bye"]["outcomes"] == {"exited": 1}

    # The delay ends: the two complete.
    run(database, now=utcnow() + timedelta(days=1, seconds=5))
    later = results(client, org, flow["id"])
    assert (later["active"], later["completed"]) == (0, 2)
    listed = client.get("/api/flows", headers=org.secret_headers).json()["data"]
    assert listed[0]["results_30d"] == {
        "entered": 3,
        "completed": 2,
        "sent": 2,
        "opened": 1,
        "clicked": 1,
        "conversions": 1,
        "revenue": 40.0,
    }


def test_a_later_touch_elsewhere_takes_the_conversion(
    client: TestClient, database: Database
) -> None:
    """One rule across flows and campaigns: the last touch before the order gets it."""
    org, template_id = sending_org(database)
    flow = create_flow(client, org, split_flow(str(template_id)))
    publish(client, org, flow["id"])
    enrol(client, org, flow["id"], "dan@example.com", 500)
    run(database)
    (message_id,) = flow_message_ids(database, flow["id"]).values()
    touch(database, message_id, "clicked", at=utcnow() - timedelta(hours=2))
    with database.transaction() as session:
        flow_message = session.get(Message, message_id)
        assert flow_message is not None
        other = Message(
            org_id=org.org_id,
            profile_id=flow_message.profile_id,
            source="transactional",
            idempotency_key=f"other-{uuid.uuid4()}",
            to_address="dan@example.com",
        )
        session.add(other)
        session.flush()
        ledger.record_event(session, other, "clicked", at=utcnow() - timedelta(hours=1))
    track(client, org, "dan@example.com", "Placed Order")
    figures = results(client, org, flow["id"])
    assert figures["messages"]["clicked"] == 1
    assert figures["conversions"] == 0


def test_days_is_bounded(client: TestClient, database: Database) -> None:
    org, template_id = sending_org(database)
    flow = create_flow(client, org, split_flow(str(template_id)))
    for days in (0, 366, "x"):
        response = client.get(
            f"/api/flows/{flow['id']}/results", params={"days": days}, headers=org.secret_headers
        )
        assert response.status_code == 422, response.text
    empty = results(client, org, flow["id"])
    assert empty["entered"] == 0
    assert [s["step_id"] for s in empty["steps"]] == ["big", "email", "later", "bye"]


def test_people_waiting_on_a_wait_step_and_the_output_they_take(
    client: TestClient, database: Database
) -> None:
    org, _template_id = sending_org(database)
    definition = {
        "trigger": {"type": "api"},
        "start": "ordered",
        "steps": [
            {
                "id": "ordered",
                "type": "wait",
                "wait_for": {"type": "event", "metric": "Placed Order"},
                "timeout": {"amount": 2, "unit": "days"},
                "outputs": {"yes": None, "no": None},
            }
        ],
    }
    flow = create_flow(client, org, definition)
    publish(client, org, flow["id"])
    enrol(client, org, flow["id"], "eve@example.com", 1)
    enrol(client, org, flow["id"], "fay@example.com", 1)
    run(database)
    figures = results(client, org, flow["id"])
    assert (figures["active"], figures["waiting"]) == (0, 2)
    (step,) = figures["steps"]
    assert (step["step_id"], step["waiting"], step["outcomes"]) == ("ordered", 2, {})

    track(client, org, "eve@example.com", "Placed Order")
    hand_off(database)
    run(database)
    run(database, now=utcnow() + timedelta(days=2, seconds=5))
    figures = results(client, org, flow["id"])
    assert (figures["waiting"], figures["completed"]) == (0, 2)
    assert figures["steps"][0]["outcomes"] == {"yes": 1, "timed out": 1}


def test_the_organizations_conversion_metric_and_window_apply(
    client: TestClient, database: Database
) -> None:
    """Flows credit with the organization's analytics settings, as campaigns and reports do."""
    org, template_id = sending_org(database)
    flow = create_flow(client, org, split_flow(str(template_id)))
    publish(client, org, flow["id"])
    enrol(client, org, flow["id"], "eve@example.com", 500)
    run(database)
    (message_id,) = flow_message_ids(database, flow["id"]).values()
    touch(database, message_id, "clicked", at=utcnow() - timedelta(hours=3))
    track(client, org, "eve@example.com", "Started Checkout")
    track(client, org, "eve@example.com", "Placed Order")
    assert results(client, org, flow["id"])["conversions"] == 1

    def configure(**settings: Any) -> None:
        response = client.patch(
            "/api/analytics/settings", json=settings, headers=org.secret_headers
        )
        assert response.status_code == 200, response.text

    configure(attribution_window_hours=2)  # the click is now too old
    assert results(client, org, flow["id"])["conversions"] == 0
    configure(attribution_window_hours=4, conversion_metric="Started Checkout")
    figures = results(client, org, flow["id"])
    assert figures["conversions"] == 1
    steps = {s["step_id"]: s for s in figures["steps"]}
    assert steps["email"]["conversions"] == 1
