"""Segment and date triggers, and waits for a segment: from the real hand-offs (profile changes
through the API, the change processor, segment history), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from herald.db import Database
from herald.flows import triggers
from herald.flows.definition import DateTrigger
from herald.models import Flow
from tests.factories import OrgFixture
from tests.flows.engine_helpers import (
    enrolments_by_email,
    enrolments_of,
    hand_off,
    make_flow,
    make_profiles,
    run,
    runs_of,
    sending_org,
)


def vip_segment(client: TestClient, org: OrgFixture) -> str:
    response = client.post(
        "/api/segments",
        json={
            "name": f"VIP {uuid.uuid4().hex[:6]}",
            "definition": {
                "conditions": [
                    {"type": "profile", "property": "vip", "operator": "equals", "value": True}
                ]
            },
        },
        headers=org.secret_headers,
    )
    assert response.status_code == 201, response.text
    segment_id: str = response.json()["id"]
    return segment_id


def identify(client: TestClient, org: OrgFixture, email: str, **properties: Any) -> None:
    response = client.post(
        "/api/identify",
        json={"email": email, "properties": properties},
        headers=org.public_headers,
    )
    assert response.status_code == 200, response.text


def segment_flow(trigger: str, segment_id: str) -> dict[str, Any]:
    return {
        "trigger": {"type": trigger, "segment_id": segment_id},
        "start": "tag",
        "steps": [
            {
                "id": "tag",
                "type": "update_profile",
                "update": {"increment": {"welcomed": 1}},
                "outputs": {"next": None},
            }
        ],
    }


def test_entering_and_leaving_a_segment_enrol_and_earlier_members_do_not(
    client: TestClient, database: Database
) -> None:
    org, _ = sending_org(database)
    segment_id = vip_segment(client, org)
    identify(client, org, "before@example.com", vip=True)
    hand_off(database)
    entered = make_flow(database, org.org_id, segment_flow("segment_entered", segment_id))
    exited = make_flow(database, org.org_id, segment_flow("segment_exited", segment_id))

    identify(client, org, "new@example.com", vip=True)
    identify(client, org, "before@example.com", vip=False)
    hand_off(database)
    triggers.scan_segments(database)
    triggers.scan_segments(database)  # a second read adds nobody
    run(database)

    assert sorted(enrolments_by_email(database, entered)) == ["new@example.com"]
    assert sorted(enrolments_by_email(database, exited)) == ["before@example.com"]
    (enrolment,) = enrolments_of(database, entered)
    assert enrolment.status == "completed"
    assert enrolment.trigger["segment_id"] == segment_id

    # Leaving and entering again: one open enrolment at a time, a new one once it finished.
    identify(client, org, "new@example.com", vip=False)
    hand_off(database)
    identify(client, org, "new@example.com", vip=True)
    hand_off(database)
    triggers.scan_segments(database)
    assert len(enrolments_of(database, entered)) == 2


def test_a_wait_for_a_segment_goes_on_when_the_profile_enters_it(
    client: TestClient, database: Database
) -> None:
    org, _ = sending_org(database)
    segment_id = vip_segment(client, org)
    flow_id = make_flow(
        database,
        org.org_id,
        {
            "trigger": {"type": "metric", "metric": "Signed Up"},
            "start": "wait",
            "steps": [
                {
                    "id": "wait",
                    "type": "wait",
                    "wait_for": {"type": "segment_entered", "segment_id": segment_id},
                    "timeout": {"amount": 3, "unit": "days"},
                    "outputs": {"yes": None, "no": None},
                }
            ],
        },
    )
    identify(client, org, "already@example.com", vip=True)
    for email in ("already@example.com", "later@example.com", "never@example.com"):
        response = client.post(
            "/api/track",
            json={"event": "Signed Up", "profile": {"email": email}},
            headers=org.public_headers,
        )
        assert response.status_code == 202
    hand_off(database)
    run(database)
    identify(client, org, "later@example.com", vip=True)
    hand_off(database)
    triggers.scan_segments(database)
    run(database)
    enrolled = enrolments_by_email(database, flow_id)
    assert enrolled["already@example.com"].status == "completed"
    assert enrolled["later@example.com"].status == "completed"
    assert enrolled["never@example.com"].status == "waiting"
    assert runs_of(database, enrolled["later@example.com"].id) == [("wait", "yes")]


def birthday_flow(**trigger: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "date_property", "property": "birthday", **trigger},
        "start": "tag",
        "steps": [
            {
                "id": "tag",
                "type": "update_profile",
                "update": {"set": {"greeted": True}},
                "outputs": {"next": None},
            }
        ],
    }


def _scanned_from(database: Database, flow_id: uuid.UUID, moment: datetime) -> None:
    with database.transaction() as session:
        flow = session.get(Flow, flow_id)
        assert flow is not None
        flow.date_scanned_until = moment


def test_a_date_trigger_fires_at_the_time_of_day_in_the_profiles_time_zone(
    database: Database,
) -> None:
    org, _ = sending_org(database)
    (tokyo,) = make_profiles(
        database, org.org_id, 1, timezone="Asia/Tokyo", properties={"birthday": "1990-03-15"}
    )
    (london,) = make_profiles(
        database, org.org_id, 1, timezone="Europe/London", properties={"birthday": "1985-03-15"}
    )
    make_profiles(database, org.org_id, 1, properties={"birthday": "1985-07-01"})
    flow_id = make_flow(database, org.org_id, birthday_flow(offset_days=-1, time_of_day="09:00"))

    # The day before the birthday at 09:00 local: 00:00 UTC in Tokyo, 09:00 UTC in London.
    _scanned_from(database, flow_id, datetime(2027, 3, 13, 23, 0, tzinfo=UTC))
    triggers.scan_dates(database, now=datetime(2027, 3, 14, 1, 0, tzinfo=UTC))
    assert [e.profile_id for e in enrolments_of(database, flow_id)] == [tokyo]
    triggers.scan_dates(database, now=datetime(2027, 3, 14, 8, 59, tzinfo=UTC))
    assert len(enrolments_of(database, flow_id)) == 1
    triggers.scan_dates(database, now=datetime(2027, 3, 14, 9, 0, tzinfo=UTC))
    assert {e.profile_id for e in enrolments_of(database, flow_id)} == {tokyo, london}
    (one, two) = enrolments_of(database, flow_id)
    assert {one.trigger["date"], two.trigger["date"]} == {"2027-03-15"}

    # Scanning the same time again (another worker, a restart) enrols nobody twice.
    _scanned_from(database, flow_id, datetime(2027, 3, 13, 23, 0, tzinfo=UTC))
    triggers.scan_dates(database, now=datetime(2027, 3, 14, 9, 0, tzinfo=UTC))
    assert len(enrolments_of(database, flow_id)) == 2


def test_date_trigger_moments() -> None:
    trigger = DateTrigger.model_validate(
        {
            "type": "date_property",
            "property": "renewal",
            "recurrence": "once",
            "offset_days": 3,
            "time_of_day": "18:30",
        }
    )
    from zoneinfo import ZoneInfo

    moment = triggers.occurrence_moment(trigger, date(2027, 1, 30), ZoneInfo("America/New_York"))
    assert moment == datetime(2027, 2, 2, 23, 30, tzinfo=UTC)
    assert moment - timedelta(days=3) == datetime(2027, 1, 30, 23, 30, tzinfo=UTC)


def test_who_enters_the_segment_while_the_flow_is_paused_does_not_enter_it_on_resume(
    client: TestClient, database: Database
) -> None:
    from herald.flows import enrolments

    org, _ = sending_org(database)
    segment_id = vip_segment(client, org)
    flow_id = make_flow(database, org.org_id, segment_flow("segment_entered", segment_id))
    with database.transaction() as session:
        enrolments.pause(session, org.org_id, flow_id)
    identify(client, org, "during@example.com", vip=True)
    hand_off(database)
    triggers.scan_segments(database)
    with database.transaction() as session:
        enrolments.resume(session, org.org_id, flow_id)
    identify(client, org, "after@example.com", vip=True)
    hand_off(database)
    triggers.scan_segments(database)
    assert sorted(enrolments_by_email(database, flow_id)) == ["after@example.com"]
