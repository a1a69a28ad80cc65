"""The flow engine end to end: events through the ingestion API, the change processor's hand-off,
due steps run in batches, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from herald.db import Database, utcnow
from herald.flows import engine
from herald.messaging import ledger
from tests.flows.api import cart_flow
from tests.flows.engine_helpers import (
    enrolments_by_email,
    enrolments_of,
    flow_messages,
    hand_off,
    make_flow,
    run,
    runs_of,
    sending_org,
    step_outcomes,
    track,
)


def test_abandoned_cart_sends_after_the_delay_and_an_order_leaves_at_the_filter(
    client: TestClient, database: Database
) -> None:
    org, template_id = sending_org(database)
    flow_id = make_flow(database, org.org_id, cart_flow(str(template_id)))

    track(client, org, "ann@example.com", "Started Checkout", {"item": "boots"}, unique_id="c-1")
    track(client, org, "bob@example.com", "Started Checkout", unique_id="c-2")
    # A retried event (same unique_id) is stored once and enrols once.
    track(client, org, "ann@example.com", "Started Checkout", {"item": "boots"}, unique_id="c-1")
    hand_off(database)
    run(database)

    enrolled = enrolments_by_email(database, flow_id)
    assert sorted(enrolled) == ["ann@example.com", "bob@example.com"]
    ann, bob = enrolled["ann@example.com"], enrolled["bob@example.com"]
    assert ann.trigger["properties"] == {"item": "boots"}
    for enrolment in (ann, bob):
        assert (enrolment.status, enrolment.current_step) == ("active", "wait")
        assert enrolment.due_at is not None
        assert enrolment.due_at >= enrolment.entered_at + timedelta(hours=4)

    # Bob orders during the delay: he no longer matches the filter.
    track(client, org, "bob@example.com", "Placed Order", {"value": 30})
    hand_off(database)

    # A moment before the delay ends nothing happens; after it, Ann's email goes.
    assert run(database, now=ann.entered_at + timedelta(hours=4) - timedelta(seconds=1)) == 0
    assert flow_messages(database, flow_id) == []
    run(database, now=utcnow() + timedelta(hours=4, seconds=1))

    enrolled = enrolments_by_email(database, flow_id)
    ann, bob = enrolled["ann@example.com"], enrolled["bob@example.com"]
    assert (ann.status, ann.exit_reason) == ("completed", None)
    assert (bob.status, bob.exit_reason) == ("exited", "no longer matches the flow's filters")
    assert runs_of(database, ann.id) == [("wait", "next"), ("email", "sent")]
    # Bob leaves when his delay ends, on the delay: it counts him neither as passed nor as
    # arrived anywhere after it, so the delay's "passed" is the email step's arrivals.
    assert runs_of(database, bob.id) == []
    assert bob.current_step == "wait"
    assert step_outcomes(database, flow_id) == {("wait", "next"): 1, ("email", "sent"): 1}
    (message,) = flow_messages(database, flow_id)
    assert message.idempotency_key == f"flow:{flow_id}:{ann.id}:email"
    assert message.status == ledger.SENT
    assert message.subject == "Still there?"
    assert message.source == "flow"


def branching(template_id: Any) -> dict[str, Any]:
    return {
        "trigger": {"type": "metric", "metric": "Viewed Product"},
        "start": "big",
        "steps": [
            {
                "id": "big",
                "type": "trigger_split",
                "filters": [{"property": "price", "operator": "greater_than", "value": 100}],
                "outputs": {"yes": "ab", "no": "vip"},
            },
            {
                "id": "ab",
                "type": "random_split",
                "branches": [{"name": "a", "weight": 1}, {"name": "b", "weight": 3}],
                "outputs": {"a": None, "b": None},
            },
            {
                "id": "vip",
                "type": "conditional_split",
                "condition": {
                    "conditions": [
                        {"type": "profile", "property": "vip", "operator": "equals", "value": True}
                    ]
                },
                "outputs": {"yes": "tag", "no": "bye"},
            },
            {
                "id": "tag",
                "type": "update_profile",
                "update": {"set": {"seen": "yes"}, "increment": {"visits": 2}, "unset": ["old"]},
                "outputs": {"next": "draft"},
            },
            {
                "id": "draft",
                "type": "send_email",
                "email": {"template_id": str(template_id), "status": "draft"},
                "outputs": {"next": None},
            },
            {"id": "bye", "type": "exit"},
        ],
    }


def test_splits_update_profile_draft_email_and_exit(client: TestClient, database: Database) -> None:
    org, template_id = sending_org(database)
    flow_id = make_flow(database, org.org_id, branching(template_id))
    identified = client.post(
        "/api/identify",
        json={"email": "vip@example.com", "properties": {"vip": True, "visits": 1, "old": 1}},
        headers=org.public_headers,
    )
    assert identified.status_code == 200, identified.text
    for i in range(40):
        track(client, org, f"big{i}@example.com", "Viewed Product", {"price": 150})
    track(client, org, "vip@example.com", "Viewed Product", {"price": 20})
    track(client, org, "small@example.com", "Viewed Product", {"price": 20})
    hand_off(database)
    run(database)

    outcomes = step_outcomes(database, flow_id)
    assert outcomes[("big", "yes")] == 40
    assert outcomes[("big", "no")] == 2
    a, b = outcomes.get(("ab", "a"), 0), outcomes.get(("ab", "b"), 0)
    assert a + b == 40 and 2 <= a <= 20  # weighted 1:3
    assert outcomes[("vip", "yes")] == 1 and outcomes[("vip", "no")] == 1
    assert outcomes[("tag", "updated")] == 1
    assert outcomes[("draft", "draft")] == 1
    assert outcomes[("bye", "exited")] == 1
    assert flow_messages(database, flow_id) == []  # a draft email sends nothing

    profile = client.get(
        "/api/profiles", params={"email": "vip@example.com"}, headers=org.secret_headers
    ).json()["data"][0]
    assert profile["properties"] == {"vip": True, "visits": 3, "seen": "yes"}

    by_status: dict[str, int] = {}
    for enrolment in enrolments_of(database, flow_id):
        by_status[enrolment.status] = by_status.get(enrolment.status, 0) + 1
    assert by_status == {"completed": 41, "exited": 1}


def test_a_random_split_is_stable_per_enrolment() -> None:
    from uuid import uuid4

    from herald.flows.definition import RandomSplit
    from herald.flows.steps import random_branch

    step = RandomSplit.model_validate(
        {
            "id": "r",
            "type": "random_split",
            "branches": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
            "outputs": {"a": None, "b": None},
        }
    )
    ids = [uuid4() for _ in range(2000)]
    first = [random_branch(i, step) for i in ids]
    assert first == [random_branch(i, step) for i in ids]
    assert 800 < first.count("a") < 1200


def test_nothing_is_due_while_enrolments_wait(client: TestClient, database: Database) -> None:
    org, template_id = sending_org(database)
    make_flow(database, org.org_id, cart_flow(str(template_id)))
    track(client, org, "ann@example.com", "Started Checkout")
    hand_off(database)
    run(database)
    assert engine.run_due(database) == 0


def test_a_delay_until_a_weekday_and_time_uses_the_profiles_time_zone() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from herald.flows.steps import next_local_time

    # Wednesday 2027-03-10, 20:00 UTC is Thursday 05:00 in Tokyo.
    now = datetime(2027, 3, 10, 20, 0, tzinfo=UTC)
    tokyo = ZoneInfo("Asia/Tokyo")
    assert next_local_time(now, tokyo, ["thursday"], "09:00") == datetime(
        2027, 3, 11, 0, 0, tzinfo=UTC
    )
    # The moment itself has passed this week: next week's.
    assert next_local_time(now, tokyo, ["thursday"], "04:00") == datetime(
        2027, 3, 17, 19, 0, tzinfo=UTC
    )
    # Across the change to summer time in New York (14 March 2027).
    new_york = ZoneInfo("America/New_York")
    assert next_local_time(now, new_york, ["monday"], "09:00") == datetime(
        2027, 3, 15, 13, 0, tzinfo=UTC
    )


def test_engines_running_at_once_run_each_step_once(database: Database) -> None:
    """Three engines (threads, each with its own connections) take batches of the same due
    enrolments: an increment that ran twice for someone would show."""
    import threading

    import sqlalchemy as sa

    from herald.flows.enrolments import Candidate, enrol
    from herald.models import Profile
    from tests.flows.engine_helpers import make_profiles

    org, _ = sending_org(database)
    flow_id = make_flow(
        database,
        org.org_id,
        {
            "trigger": {"type": "api"},
            "start": "count",
            "steps": [
                {
                    "id": "count",
                    "type": "update_profile",
                    "update": {"increment": {"visits": 1}},
                    "outputs": {"next": "again"},
                },
                {
                    "id": "again",
                    "type": "update_profile",
                    "update": {"increment": {"steps": 1}},
                    "outputs": {"next": None},
                },
            ],
        },
    )
    people = make_profiles(database, org.org_id, 1200)
    with database.transaction() as session:
        enrol(session, flow_id, [Candidate(p, f"api:{p}", {"type": "api"}) for p in people])
    errors: list[BaseException] = []

    def engine_thread() -> None:
        try:
            while engine.run_due(database, limit=100):
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=engine_thread) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    run(database)
    with database.transaction() as session:
        counts = session.execute(
            sa.select(Profile.properties).where(Profile.id.in_(people))
        ).scalars()
        assert {(c.get("visits"), c.get("steps")) for c in counts} == {(1, 1)}
    assert {e.status for e in enrolments_of(database, flow_id)} == {"completed"}


def test_a_step_that_raises_fails_its_enrolment_alone(database: Database, monkeypatch: Any) -> None:
    from herald.flows.enrolments import Candidate, enrol
    from tests.flows.engine_helpers import make_profiles

    org, _ = sending_org(database)
    flow_id = make_flow(
        database,
        org.org_id,
        {
            "trigger": {"type": "api"},
            "start": "ab",
            "steps": [
                {
                    "id": "ab",
                    "type": "random_split",
                    "branches": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
                    "outputs": {"a": None, "b": None},
                }
            ],
        },
    )
    people = make_profiles(database, org.org_id, 6)
    with database.transaction() as session:
        outcomes = enrol(session, flow_id, [Candidate(p, f"api:{p}", {}) for p in people])
    poison = outcomes[3].enrolment_id
    real = engine._handlers["random_split"]

    def handler(batch: engine.Batch, works: list[engine.Work]) -> None:
        if any(w.id == poison for w in works):
            raise RuntimeError("poison")
        real(batch, works)

    monkeypatch.setitem(engine._handlers, "random_split", handler)
    run(database)
    by_id = {e.id: e for e in enrolments_of(database, flow_id)}
    assert by_id[poison].status == "failed"
    assert by_id[poison].exit_reason == "the step failed: RuntimeError: poison"
    assert runs_of(database, by_id[poison].id) == [("ab", "failed")]
    assert sorted(e.status for i, e in by_id.items() if i != poison) == ["completed"] * 5
