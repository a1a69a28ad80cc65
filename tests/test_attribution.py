"""The one attribution rule, across the sources that send messages: each conversion is credited
once, to the message touched last within five days, and the sources' credits add up."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database, utcnow
from herald.messaging import ledger
from herald.messaging import service as messages
from herald.messaging.attribution import ATTRIBUTION_WINDOW, attributed_conversions
from herald.models import Message
from tests.factories import OrgFixture, make_org

RAW = messages.RawContent(subject="Hi", html="<p>Hi</p>")


def send(
    database: Database, org: OrgFixture, address: str, source: str, source_id: uuid.UUID
) -> uuid.UUID:
    with database.transaction() as session:
        message = messages.queue_email(
            session,
            org.org_id,
            source=source,
            source_id=source_id,
            idempotency_key=f"{source}:{source_id}:{address}",
            to_address=address,
            raw=RAW,
            kick=False,
        )
        return message.id


def touch(database: Database, message_id: uuid.UUID, kind: str, at: datetime, **kw: bool) -> None:
    with database.transaction() as session:
        message = session.get(Message, message_id)
        assert message is not None
        ledger.record_event(session, message, kind, at=at, **kw)


def order(client: TestClient, org: OrgFixture, email: str, value: float, at: datetime) -> None:
    response = client.post(
        "/api/track",
        json={
            "event": "Placed Order",
            "profile": {"email": email},
            "value": value,
            "time": at.isoformat(),
        },
        headers=org.public_headers,
    )
    assert response.status_code == 202, response.text


def test_each_order_is_credited_once_to_the_last_touch_across_sources(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        identified = client.post("/api/identify", json={"email": email}, headers=org.public_headers)
        assert identified.status_code == 200, identified.text
    campaign, flow = uuid.uuid4(), uuid.uuid4()
    start = utcnow() - timedelta(days=30)
    a_campaign = send(database, org, "a@example.com", "campaign", campaign)
    a_flow = send(database, org, "a@example.com", "flow", flow)
    b_campaign = send(database, org, "b@example.com", "campaign", campaign)
    c_flow = send(database, org, "c@example.com", "flow", flow)
    touch(database, a_campaign, "opened", start)
    touch(database, a_flow, "clicked", start + timedelta(hours=1))  # a's last touch: the flow
    touch(database, b_campaign, "clicked", start)
    touch(database, c_flow, "opened", start, machine=True)  # a privacy proxy: no touch
    order(client, org, "a@example.com", 30, start + timedelta(hours=2))
    order(client, org, "b@example.com", 20, start + timedelta(days=1))
    order(client, org, "b@example.com", 99, start + ATTRIBUTION_WINDOW + timedelta(minutes=1))
    order(client, org, "b@example.com", 5, start - timedelta(minutes=1))  # before any touch
    order(client, org, "c@example.com", 40, start + timedelta(hours=1))

    stranger = make_org("Other")
    with database.transaction() as session:
        to_campaign = attributed_conversions(
            session,
            org.org_id,
            sa.and_(Message.source == "campaign", Message.source_id == campaign),
        )
        to_flow = attributed_conversions(
            session, org.org_id, sa.and_(Message.source == "flow", Message.source_id == flow)
        )
        to_anything = attributed_conversions(session, org.org_id, sa.true())
        other_org = attributed_conversions(session, stranger.org_id, sa.true())
    assert [(c.message_id, c.value) for c in to_campaign] == [(b_campaign, 20.0)]
    assert [(c.message_id, c.value) for c in to_flow] == [(a_flow, 30.0)]
    # Each credited order appears once, and the sources add up to all attributed revenue.
    assert sorted(c.value for c in to_anything) == [20.0, 30.0]
    assert {c.event_id for c in to_campaign} | {c.event_id for c in to_flow} == {
        c.event_id for c in to_anything
    }
    assert other_org == []
