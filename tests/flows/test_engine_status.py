"""What pausing, resuming, archiving and publishing do to the people in a flow; re-entry rules;
the API trigger; removing a person; waits that an event or a timeout ends; smart sending."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from herald.db import Database, utcnow
from herald.errors import Conflict, NotFound
from herald.flows import enrolments
from herald.messaging import ledger
from tests.factories import make_org
from tests.flows.engine_helpers import (
    enrolments_by_email,
    enrolments_of,
    flow_messages,
    hand_off,
    make_flow,
    make_profiles,
    publish,
    run,
    runs_of,
    sending_org,
    track,
)


def delay_then_email(template_id: Any, **extra: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "metric", "metric": "Signed Up"},
        "start": "wait",
        "steps": [
            {
                "id": "wait",
                "type": "delay",
                "delay": {"amount": 1, "unit": "days"},
                "outputs": {"next": "email"},
            },
            {
                "id": "email",
                "type": "send_email",
                "email": {"template_id": str(template_id), "smart_sending": False},
                "outputs": {"next": None},
            },
        ],
        **extra,
    }


def test_pause_holds_everyone_and_resume_runs_what_fell_due(
    client: TestClient, database: Database
) -> None:
    org, template_id = sending_org(database)
    flow_id = make_flow(database, org.org_id, delay_then_email(template_id))
    for name in ("a", "b"):
        track(client, org, f"{name}@example.com", "Signed Up")
    hand_off(database)
    run(database)
    with database.transaction() as session:
        enrolments.pause(session, org.org_id, flow_id)
    later = utcnow() + timedelta(days=2)
    assert run(database, now=later) == 0  # paused: nothing is due, nothing skipped
    # A paused flow takes no one new.
    track(client, org, "c@example.com", "Signed Up")
    hand_off(database)
    assert len(enrolments_of(database, flow_id)) == 2
    with database.transaction() as session:
        enrolments.resume(session, org.org_id, flow_id)
    run(database, now=later)
    assert sorted(e.status for e in enrolments_of(database, flow_id)) == ["completed"] * 2
    assert len(flow_messages(database, flow_id)) == 2


def test_archive_ends_open_enrolments_and_skips_queued_email(
    client: TestClient, database: Database
) -> None:
    org, template_id = sending_org(database)
    flow_id = make_flow(database, org.org_id, delay_then_email(template_id))
    track(client, org, "a@example.com", "Signed Up")
    hand_off(database)
    run(database)
    with database.transaction() as session:
        enrolments.archive(session, org.org_id, flow_id)
        with pytest.raises(Conflict):
            enrolments.resume(session, org.org_id, flow_id)
    (enrolment,) = enrolments_of(database, flow_id)
    assert (enrolment.status, enrolment.exit_reason) == ("exited", "flow archived")
    assert run(database, now=utcnow() + timedelta(days=2)) == 0


def test_publishing_moves_people_on_kept_steps_and_exits_those_on_removed_ones(
    client: TestClient, database: Database
) -> None:
    org, template_id = sending_org(database)
    definition = delay_then_email(template_id)
    definition["steps"][0]["outputs"] = {"next": "pause"}
    definition["steps"].insert(
        1,
        {
            "id": "pause",
            "type": "delay",
            "delay": {"amount": 1, "unit": "hours"},
            "outputs": {"next": "email"},
        },
    )
    flow_id = make_flow(database, org.org_id, definition)
    track(client, org, "early@example.com", "Signed Up")
    hand_off(database)
    run(database)
    run(database, now=utcnow() + timedelta(days=1, seconds=1))  # early now on `pause`
    track(client, org, "late@example.com", "Signed Up")
    hand_off(database)
    run(database)  # late on `wait`

    # Version 2 drops `pause`: who stands on it leaves; who stands on `wait` moves along.
    publish(database, org.org_id, flow_id, delay_then_email(template_id))
    enrolled = enrolments_by_email(database, flow_id)
    early, late = enrolled["early@example.com"], enrolled["late@example.com"]
    assert (early.status, early.exit_reason) == ("exited", "step removed")
    assert (late.status, late.version, late.current_step) == ("active", 2, "wait")
    run(database, now=utcnow() + timedelta(days=1, seconds=5))
    late = enrolments_by_email(database, flow_id)["late@example.com"]
    assert late.status == "completed"
    assert runs_of(database, late.id) == [("wait", "next"), ("email", "sent")]


@pytest.mark.parametrize(
    ("reentry", "expected"),
    [
        ({"mode": "every_time"}, 3),
        ({"mode": "once"}, 1),
        ({"mode": "once_per_period", "period": {"amount": 1, "unit": "hours"}}, 1),
    ],
)
def test_reentry_rules(
    client: TestClient, database: Database, reentry: dict[str, Any], expected: int
) -> None:
    org, template_id = sending_org(database)
    flow_id = make_flow(database, org.org_id, delay_then_email(template_id, reentry=reentry))
    for _ in range(3):
        track(client, org, "a@example.com", "Signed Up")
        hand_off(database)
    assert len(enrolments_of(database, flow_id)) == expected


def api_flow(template_id: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "api"},
        "start": "split",
        "steps": [
            {
                "id": "split",
                "type": "trigger_split",
                "filters": [{"property": "plan", "operator": "equals", "value": "pro"}],
                "outputs": {"yes": "email", "no": None},
            },
            {
                "id": "email",
                "type": "send_email",
                "email": {"template_id": str(template_id)},
                "outputs": {"next": None},
            },
        ],
    }


def test_api_enrolment_is_idempotent_with_a_unique_id_and_tenant_scoped(
    database: Database,
) -> None:
    org, template_id = sending_org(database)
    other = make_org("Other")
    flow_id = make_flow(database, org.org_id, api_flow(template_id))
    (profile_id,) = make_profiles(database, org.org_id, 1)
    with database.transaction() as session:
        first = enrolments.enrol_by_api(
            session, org.org_id, flow_id, profile_id, {"plan": "pro"}, unique_id="signup-1"
        )
        again = enrolments.enrol_by_api(
            session, org.org_id, flow_id, profile_id, {"plan": "pro"}, unique_id="signup-1"
        )
        assert first.created and not again.created
        assert again.enrolment_id == first.enrolment_id
        # Another organization's flow, or enrolment, is not found.
        with pytest.raises(NotFound):
            enrolments.enrol_by_api(session, other.org_id, flow_id, profile_id, {})
        assert first.enrolment_id is not None
        with pytest.raises(NotFound):
            enrolments.remove_enrolment(session, other.org_id, flow_id, first.enrolment_id)
        unknown = enrolments.enrol_by_api(session, org.org_id, flow_id, uuid.uuid4(), {})
        assert (unknown.created, unknown.reason) == (False, "profile not found")
    run(database)
    (enrolment,) = enrolments_of(database, flow_id)
    assert runs_of(database, enrolment.id) == [("split", "yes"), ("email", "sent")]


def test_removing_a_person_ends_their_enrolment(client: TestClient, database: Database) -> None:
    org, template_id = sending_org(database)
    flow_id = make_flow(database, org.org_id, delay_then_email(template_id))
    track(client, org, "a@example.com", "Signed Up")
    hand_off(database)
    (enrolment,) = enrolments_of(database, flow_id)
    with database.transaction() as session:
        removed = enrolments.remove_enrolment(session, org.org_id, flow_id, enrolment.id)
        assert (removed.status, removed.exit_reason) == ("exited", "removed from the flow")
    assert run(database, now=utcnow() + timedelta(days=2)) == 0
    assert flow_messages(database, flow_id) == []


def waiting_flow(template_id: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "metric", "metric": "Viewed Product"},
        "start": "wait",
        "steps": [
            {
                "id": "wait",
                "type": "wait",
                "wait_for": {
                    "type": "event",
                    "metric": "Added to Cart",
                    "filters": [{"property": "qty", "operator": "greater_than", "value": 0}],
                },
                "timeout": {"amount": 2, "unit": "hours"},
                "outputs": {"yes": None, "no": "nudge"},
            },
            {
                "id": "nudge",
                "type": "send_email",
                "email": {"template_id": str(template_id)},
                "outputs": {"next": None},
            },
        ],
    }


def test_a_wait_ends_when_the_event_arrives_or_at_its_timeout(
    client: TestClient, database: Database
) -> None:
    org, template_id = sending_org(database)
    flow_id = make_flow(database, org.org_id, waiting_flow(template_id))
    for name in ("buyer", "browser"):
        track(client, org, f"{name}@example.com", "Viewed Product")
    hand_off(database)
    run(database)
    assert {e.status for e in enrolments_of(database, flow_id)} == {"waiting"}
    # An event that does not match the wait's filters does not end it; one that does, does.
    track(client, org, "buyer@example.com", "Added to Cart", {"qty": 0})
    hand_off(database)
    assert {e.status for e in enrolments_of(database, flow_id)} == {"waiting"}
    track(client, org, "buyer@example.com", "Added to Cart", {"qty": 2})
    hand_off(database)
    run(database)
    enrolled = enrolments_by_email(database, flow_id)
    assert enrolled["buyer@example.com"].status == "completed"
    assert enrolled["browser@example.com"].status == "waiting"
    run(database, now=utcnow() + timedelta(hours=2, seconds=1))
    enrolled = enrolments_by_email(database, flow_id)
    assert runs_of(database, enrolled["buyer@example.com"].id) == [("wait", "yes")]
    assert runs_of(database, enrolled["browser@example.com"].id) == [
        ("wait", "timed out"),
        ("nudge", "sent"),
    ]


def test_smart_sending_skips_someone_emailed_recently(
    client: TestClient, database: Database
) -> None:
    org, template_id = sending_org(database)
    definition = api_flow(template_id)
    definition["steps"][0]["outputs"] = {"yes": "email", "no": "email"}
    first = make_flow(database, org.org_id, definition)
    second = make_flow(database, org.org_id, definition)
    (profile_id,) = make_profiles(database, org.org_id, 1)
    with database.transaction() as session:
        enrolments.enrol_by_api(session, org.org_id, first, profile_id, {})
    run(database)
    with database.transaction() as session:
        enrolments.enrol_by_api(session, org.org_id, second, profile_id, {})
    run(database)
    (sent,) = flow_messages(database, first)
    assert sent.status == ledger.SENT
    assert flow_messages(database, second) == []
    (enrolment,) = enrolments_of(database, second)
    assert runs_of(database, enrolment.id) == [("split", "no"), ("email", "skipped")]


def test_status_changes_of_another_organizations_flow_are_not_found(database: Database) -> None:
    org, template_id = sending_org(database)
    other = make_org("Other")
    flow_id = make_flow(database, org.org_id, delay_then_email(template_id))
    with database.transaction() as session:
        for change in (enrolments.pause, enrolments.resume, enrolments.archive):
            with pytest.raises(NotFound):
                change(session, other.org_id, flow_id)
        with pytest.raises(NotFound):
            enrolments.remove_profile(session, other.org_id, flow_id, uuid.uuid4())


def test_an_erased_profile_leaves_the_flow(client: TestClient, database: Database) -> None:
    from herald.profiles import service as profiles

    org, template_id = sending_org(database)
    flow_id = make_flow(database, org.org_id, delay_then_email(template_id))
    track(client, org, "gone@example.com", "Signed Up")
    hand_off(database)
    run(database)
    (enrolment,) = enrolments_of(database, flow_id)
    assert enrolment.trigger["metric"] == "Signed Up"
    with database.transaction() as session:
        profiles.erase_profile(session, org.org_id, enrolment.profile_id)
    (enrolment,) = enrolments_of(database, flow_id)
    assert (enrolment.status, enrolment.exit_reason) == ("exited", "profile erased")
    assert enrolment.trigger == {}  # what the trigger carried is forgotten
    assert run(database, now=utcnow() + timedelta(days=2)) == 0
    assert flow_messages(database, flow_id) == []
