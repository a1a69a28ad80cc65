"""Trying a flow with a profile: the path they would take now and the emails rendered for them,
with nothing sent or stored."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database
from herald.models import FlowEnrolment, Message
from tests.factories import OrgFixture, make_org
from tests.flows.api import api_flow, cart_flow, create_flow, identify, make_template, publish


def try_flow(
    client: TestClient, org: OrgFixture, flow_id: str, profile_id: str, **payload: Any
) -> dict[str, Any]:
    response = client.post(
        f"/api/flows/{flow_id}/test",
        json={"profile_id": profile_id, "payload": payload},
        headers=org.secret_headers,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def stored_rows(database: Database) -> tuple[int, int]:
    with database.transaction() as session:
        return (
            session.scalar(sa.select(sa.func.count()).select_from(Message)) or 0,
            session.scalar(sa.select(sa.func.count()).select_from(FlowEnrolment)) or 0,
        )


def test_the_path_with_the_email_rendered_for_the_profile_and_nothing_sent(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    flow = create_flow(client, org, cart_flow(make_template(org)))
    profile_id = identify(client, org, email="ada@example.com", first_name="Ada")
    result = try_flow(client, org, flow["id"], profile_id, item="teapot")
    assert result["enters"] is True
    wait, email = result["path"]
    assert (wait["step_id"], wait["outcome"], wait["detail"]) == ("wait", "next", "waits 4 hours")
    assert (email["step_id"], email["outcome"]) == ("email", "would_send")
    assert "ada@example.com" in email["detail"]
    assert email["rendered"]["subject"] == "Still there?"
    assert "Your teapot is waiting" in email["rendered"]["html"]
    assert stored_rows(database) == (0, 0)


def test_a_profile_outside_the_filters_does_not_enter(client: TestClient) -> None:
    org = make_org()
    definition = cart_flow(make_template(org))
    definition["filters"] = {
        "conditions": [{"type": "profile", "field": "city", "operator": "equals", "value": "Paris"}]
    }
    flow = create_flow(client, org, definition)
    londoner = identify(client, org, email="l@example.com", location={"city": "London"})
    parisian = identify(client, org, email="p@example.com", location={"city": "Paris"})
    outside = try_flow(client, org, flow["id"], londoner)
    assert (outside["enters"], outside["path"]) == (False, [])
    assert "filters" in outside["reason"]
    assert try_flow(client, org, flow["id"], parisian)["enters"] is True
    definition["trigger"]["filters"] = [
        {"property": "total", "operator": "greater_than", "value": 10}
    ]
    client.patch(
        f"/api/flows/{flow['id']}", json={"definition": definition}, headers=org.secret_headers
    )
    small = try_flow(client, org, flow["id"], parisian, total=5)
    assert (small["enters"], small["reason"]) == (
        False,
        "the payload does not match the trigger's filters",
    )
    assert try_flow(client, org, flow["id"], parisian, total=50)["enters"] is True


def test_splits_follow_the_payload_and_the_profile(client: TestClient) -> None:
    org = make_org()
    template_id = make_template(org)
    flow = create_flow(client, org, api_flow(template_id))
    profile_id = identify(client, org, email="b@example.com", location={"city": "Leeds"})
    big = try_flow(client, org, flow["id"], profile_id, total=150)
    assert [(s["step_id"], s["outcome"]) for s in big["path"]] == [
        ("big", "yes"),
        ("email", "would_send"),
    ]
    small = try_flow(client, org, flow["id"], profile_id, total=50)
    assert [(s["step_id"], s["outcome"]) for s in small["path"]] == [("big", "no")]
    in_text = try_flow(client, org, flow["id"], profile_id, total="250")
    assert in_text["path"][0]["outcome"] == "yes"

    definition = {
        "trigger": {"type": "metric", "metric": "Viewed Product"},
        "start": "leeds",
        "steps": [
            {
                "id": "leeds",
                "type": "conditional_split",
                "condition": {
                    "conditions": [
                        {"type": "profile", "field": "city", "operator": "equals", "value": "Leeds"}
                    ]
                },
                "outputs": {"yes": "ab", "no": None},
            },
            {
                "id": "ab",
                "type": "random_split",
                "branches": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
                "outputs": {"a": "tag", "b": "tag"},
            },
            {
                "id": "tag",
                "type": "update_profile",
                "update": {"set": {"seen": True}, "increment": {"visits": 1}},
                "outputs": {"next": "done"},
            },
            {"id": "done", "type": "exit"},
        ],
    }
    split = create_flow(client, org, definition, name="Split")
    first = try_flow(client, org, split["id"], profile_id)
    steps = [(s["step_id"], s["outcome"]) for s in first["path"]]
    assert steps[0] == ("leeds", "yes")
    assert steps[1][1] in ("a", "b")
    assert steps[2:] == [("tag", "would_update"), ("done", "exit")]
    assert first["path"][2]["detail"] == "set seen; increment visits by 1"
    # The random branch is the same every time for the same profile.
    assert try_flow(client, org, split["id"], profile_id) == first
    other = identify(client, org, email="c@example.com", location={"city": "York"})
    assert [s["outcome"] for s in try_flow(client, org, split["id"], other)["path"]] == ["no"]


def test_an_unchosen_template_and_a_profile_without_email_are_reported(
    client: TestClient,
) -> None:
    org = make_org()
    response = client.post(
        "/api/flows/from-template", json={"template": "abandoned_cart"}, headers=org.secret_headers
    )
    flow = response.json()
    profile_id = identify(client, org, email="d@example.com")
    path = try_flow(client, org, flow["id"], profile_id)["path"]
    assert [(s["step_id"], s["outcome"]) for s in path] == [
        ("wait-4h", "next"),
        ("reminder", "no_template"),
        ("wait-20h", "next"),
        ("last-call", "no_template"),
    ]
    cart = create_flow(client, org, cart_flow(make_template(org)))
    phone_only = identify(client, org, phone="+14155550100")
    email_step = try_flow(client, org, cart["id"], phone_only)["path"][1]
    assert email_step["outcome"] == "would_skip"
    assert email_step["rendered"]["subject"] == "Still there?"


def test_another_organizations_profile_is_not_found(client: TestClient) -> None:
    org, other = make_org(), make_org("Other")
    flow = create_flow(client, org, cart_flow(make_template(org)))
    stranger = identify(client, other, email="s@example.com")
    response = client.post(
        f"/api/flows/{flow['id']}/test",
        json={"profile_id": stranger, "payload": {}},
        headers=org.secret_headers,
    )
    assert response.status_code == 404, response.text


def test_the_re_entry_rule_is_applied_to_past_enrolments(
    client: TestClient, database: Database
) -> None:
    org = make_org()
    definition = api_flow(make_template(org))
    definition["reentry"] = {"mode": "once"}
    flow = create_flow(client, org, definition)
    publish(client, org, flow["id"])
    profile_id = identify(client, org, email="once@example.com")
    assert try_flow(client, org, flow["id"], profile_id, total=150)["enters"] is True
    enrolled = client.post(
        f"/api/flows/{flow['id']}/enrol",
        json={"profile": {"id": profile_id}, "payload": {"total": 150}},
        headers=org.secret_headers,
    )
    assert enrolled.status_code == 201, enrolled.text
    again = try_flow(client, org, flow["id"], profile_id, total=150)
    assert (again["enters"], again["reason"], again["path"]) == (
        False,
        "already entered this flow once",
        [],
    )
