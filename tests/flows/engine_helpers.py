"""Small factories for the flow engine's tests: an organization that can send marketing email,
profiles, a published flow, events through the real ingestion API and the change processor."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database
from herald.flows import engine, enrolments
from herald.flows import tasks as _tasks  # noqa: F401 (registers step handlers and the gate)
from herald.flows.definition import parse_definition
from herald.models import (
    EmailSettings,
    EmailTemplate,
    Flow,
    FlowEnrolment,
    FlowStepRun,
    Message,
    Profile,
)
from herald.segments.service import process_changes
from tests.factories import OrgFixture, make_org


def sending_org(database: Database) -> tuple[OrgFixture, uuid.UUID]:
    """An organization with the outbox, a postal address and one marketing template."""
    org = make_org()
    with database.transaction() as session:
        session.add(
            EmailSettings(
                org_id=org.org_id,
                provider="outbox",
                default_from_email="shop@acme.example",
                postal_address="1 Harbour Street, Portsmouth",
            )
        )
        template = EmailTemplate(
            org_id=org.org_id,
            name=f"Cart {uuid.uuid4().hex[:6]}",
            subject="You left {{ event.item | default('something') }}",
            body="<p>Hi</p>",
            compiled_html='<html><body><p>Hi {{ profile.first_name }}</p><a href="'
            '{{ unsubscribe_url }}">Unsubscribe</a></body></html>',
        )
        session.add(template)
        session.flush()
        template_id = template.id
    return org, template_id


def make_profiles(
    database: Database, org_id: uuid.UUID, count: int, **fields: Any
) -> list[uuid.UUID]:
    with database.transaction() as session:
        profiles = [
            Profile(
                org_id=org_id,
                email=f"p{i}-{uuid.uuid4().hex[:6]}@example.com",
                first_name=f"P{i}",
                **fields,
            )
            for i in range(count)
        ]
        session.add_all(profiles)
        session.flush()
        return [p.id for p in profiles]


def make_flow(database: Database, org_id: uuid.UUID, definition: dict[str, Any]) -> uuid.UUID:
    """A flow, published (live)."""
    parsed = parse_definition(definition)
    with database.transaction() as session:
        flow = Flow(
            org_id=org_id,
            name=f"Flow {uuid.uuid4().hex[:6]}",
            trigger_type=parsed.trigger.type,
            definition=definition,
            layout={},
        )
        session.add(flow)
        session.flush()
        enrolments.publish(session, org_id, flow.id, parsed)
        return flow.id


def publish(
    database: Database, org_id: uuid.UUID, flow_id: uuid.UUID, definition: dict[str, Any]
) -> None:
    with database.transaction() as session:
        enrolments.publish(session, org_id, flow_id, parse_definition(definition))


def track(
    client: TestClient,
    org: OrgFixture,
    email: str,
    name: str,
    properties: dict[str, Any] | None = None,
    unique_id: str | None = None,
    time: datetime | None = None,
) -> None:
    body: dict[str, Any] = {"event": name, "profile": {"email": email}}
    if properties:
        body["properties"] = properties
    if unique_id:
        body["unique_id"] = unique_id
    if time:
        body["time"] = time.isoformat()
    response = client.post("/api/track", json=body, headers=org.public_headers)
    assert response.status_code == 202, response.text


def hand_off(database: Database) -> None:
    """What the change processor pump does within a second: segments, then flow triggers."""
    while process_changes(database):
        pass


def run(database: Database, now: datetime | None = None) -> int:
    return engine.run_until_idle(database, now=now)


def enrolments_of(database: Database, flow_id: uuid.UUID) -> list[FlowEnrolment]:
    with database.transaction() as session:
        return list(
            session.scalars(
                sa.select(FlowEnrolment)
                .where(FlowEnrolment.flow_id == flow_id)
                .order_by(FlowEnrolment.entered_at, FlowEnrolment.id)
            )
        )


def enrolments_by_email(database: Database, flow_id: uuid.UUID) -> dict[str, FlowEnrolment]:
    with database.transaction() as session:
        rows = session.execute(
            sa.select(Profile.email, FlowEnrolment)
            .join(Profile, Profile.id == FlowEnrolment.profile_id)
            .where(FlowEnrolment.flow_id == flow_id)
        ).all()
        found: dict[str, FlowEnrolment] = {}
        for email, enrolment in rows:
            assert email not in found, f"{email} has two enrolments"
            found[email] = enrolment
        return found


def runs_of(database: Database, enrolment_id: uuid.UUID) -> list[tuple[str, str]]:
    with database.transaction() as session:
        return [(run.step_id, run.outcome) for run in enrolments.history_of(session, enrolment_id)]


def flow_messages(database: Database, flow_id: uuid.UUID) -> list[Message]:
    with database.transaction() as session:
        return list(session.scalars(sa.select(Message).where(Message.source_id == flow_id)))


def step_outcomes(database: Database, flow_id: uuid.UUID) -> dict[tuple[str, str], int]:
    with database.transaction() as session:
        rows = session.execute(
            sa.select(FlowStepRun.step_id, FlowStepRun.outcome, sa.func.count())
            .where(FlowStepRun.flow_id == flow_id)
            .group_by(FlowStepRun.step_id, FlowStepRun.outcome)
        )
        return {(step, outcome): count for step, outcome, count in rows}


def email_of(database: Database, profile_id: uuid.UUID) -> str:
    with database.transaction() as session:
        email = session.scalar(sa.select(Profile.email).where(Profile.id == profile_id))
        assert email is not None
        return email
