"""Enrolments through the API: enrolling with an API trigger (once per unique_id), listing with
filters and cursor pages, one enrolment's history, removing a person, a profile's flows, what
archiving does to them, and tenancy for every route that names an enrolment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database, utcnow
from herald.models import FlowEnrolment, Profile
from tests.factories import OrgFixture, make_org
from tests.flows.api import (
    act,
    api_flow,
    cart_flow,
    create_flow,
    delayed_api_flow,
    fields,
    get_flow,
    publish,
)
from tests.flows.engine_helpers import run, sending_org
from tests.tenancy import Endpoint, assert_isolated, assert_management_only


def enrol(client: TestClient, org: OrgFixture, flow_id: str, **body: Any) -> Any:
    return client.post(f"/api/flows/{flow_id}/enrol", json=body, headers=org.secret_headers)


def enrolments(client: TestClient, org: OrgFixture, flow_id: str, **params: Any) -> dict:
    response = client.get(
        f"/api/flows/{flow_id}/enrolments", params=params, headers=org.secret_headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def enrolment(client: TestClient, org: OrgFixture, flow_id: str, enrolment_id: str) -> dict:
    response = client.get(
        f"/api/flows/{flow_id}/enrolments/{enrolment_id}", headers=org.secret_headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_enrol_through_the_api_once_per_unique_id_and_follow_the_path(
    client: TestClient, database: Database
) -> None:
    org, template_id = sending_org(database)
    flow = create_flow(client, org, api_flow(str(template_id)), name="Big orders")
    # A draft takes nobody.
    refused = enrol(client, org, flow["id"], profile={"email": "ann@example.com"})
    assert refused.status_code == 409, refused.text
    publish(client, org, flow["id"])
    body = {
        "profile": {"email": "ann@example.com"},
        "payload": {"total": 150},
        "unique_id": "order-1",
    }
    first = enrol(client, org, flow["id"], **body)
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["created"] is True and created["reason"] is None
    again = enrol(client, org, flow["id"], **body)
    assert again.status_code == 200, again.text
    assert again.json()["enrolment_id"] == created["enrolment_id"]
    assert again.json()["created"] is False

    run(database)
    detail = enrolment(client, org, flow["id"], created["enrolment_id"])
    assert detail["flow_name"] == "Big orders"
    assert detail["profile_id"] == created["profile_id"]
    assert detail["profile_email"] == "ann@example.com"
    assert (detail["status"], detail["version"]) == ("completed", 1)
    assert detail["trigger"]["properties"] == {"total": 150}
    assert [(h["step_id"], h["outcome"]) for h in detail["history"]] == [
        ("big", "yes"),
        ("email", "sent"),
    ]
    assert detail["history"][1]["message_id"] is not None

    profile_flows = client.get(
        f"/api/profiles/{created['profile_id']}/flows", headers=org.secret_headers
    )
    assert profile_flows.status_code == 200, profile_flows.text
    assert profile_flows.json()["data"] == [detail]


def test_enrol_refuses_bad_input_and_the_wrong_trigger_and_changes_nothing(
    client: TestClient, database: Database
) -> None:
    org, template_id = sending_org(database)
    cart = create_flow(client, org, cart_flow(str(template_id)))
    publish(client, org, cart["id"])
    wrong = enrol(client, org, cart["id"], profile={"email": "x@example.com"})
    assert fields(wrong) == {"flow": "this flow is not triggered through the API"}
    api = create_flow(client, org, api_flow(str(template_id)))
    publish(client, org, api["id"])
    assert "profile" in fields(enrol(client, org, api["id"], profile={}))
    assert "profile.email" in fields(enrol(client, org, api["id"], profile={"email": "nope"}))
    with database.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(FlowEnrolment)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(Profile)) == 0


def test_listing_filters_pages_and_removing_a_person(
    client: TestClient, database: Database
) -> None:
    org, template_id = sending_org(database)
    flow = create_flow(client, org, delayed_api_flow(str(template_id)))
    publish(client, org, flow["id"])
    ids = []
    for name in ("a", "b", "c"):
        response = enrol(client, org, flow["id"], profile={"email": f"{name}@example.com"})
        ids.append(response.json()["enrolment_id"])
    run(database)
    waiting = enrolments(client, org, flow["id"], step_id="wait")
    assert {e["id"] for e in waiting["data"]} == set(ids)
    assert {(e["status"], e["current_step_id"]) for e in waiting["data"]} == {("active", "wait")}
    assert enrolments(client, org, flow["id"], step_id="email")["data"] == []

    pages: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = enrolments(client, org, flow["id"], **params)
        pages.extend(e["id"] for e in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(pages) == sorted(ids) and len(pages) == 3

    removed = client.delete(
        f"/api/flows/{flow['id']}/enrolments/{ids[0]}", headers=org.secret_headers
    )
    assert removed.status_code == 200, removed.text
    assert (removed.json()["status"], removed.json()["exit_reason"]) == (
        "exited",
        "removed from the flow",
    )
    # Removing again leaves it as it was.
    again = client.delete(
        f"/api/flows/{flow['id']}/enrolments/{ids[0]}", headers=org.secret_headers
    )
    assert again.json() == removed.json()
    run(database, now=utcnow() + timedelta(days=1, seconds=5))
    done = enrolments(client, org, flow["id"], status="completed")["data"]
    assert sorted(e["id"] for e in done) == sorted(ids[1:])
    assert [e["id"] for e in enrolments(client, org, flow["id"], status="exited")["data"]] == [
        ids[0]
    ]
    assert "cursor" in fields(
        client.get(
            f"/api/flows/{flow['id']}/enrolments",
            params={"cursor": "garbage"},
            headers=org.secret_headers,
        )
    )
    bad_status = client.get(
        f"/api/flows/{flow['id']}/enrolments",
        params={"status": "sleeping"},
        headers=org.secret_headers,
    )
    assert bad_status.status_code == 422


def test_archiving_ends_every_enrolment_still_in_the_flow(
    client: TestClient, database: Database
) -> None:
    org, template_id = sending_org(database)
    flow = create_flow(client, org, delayed_api_flow(str(template_id)))
    publish(client, org, flow["id"])
    enrolment_id = enrol(client, org, flow["id"], profile={"email": "z@example.com"}).json()[
        "enrolment_id"
    ]
    run(database)
    assert act(client, org, flow["id"], "archive").status_code == 200
    ended = enrolment(client, org, flow["id"], enrolment_id)
    assert (ended["status"], ended["exit_reason"]) == ("exited", "flow archived")
    assert ended["due_at"] is None and ended["finished_at"] is not None
    assert get_flow(client, org, flow["id"])["status"] == "archived"


def test_enrolments_are_isolated_between_organizations_and_flows(
    client: TestClient, database: Database
) -> None:
    owner, template_id = sending_org(database)
    intruder = make_org("Other")
    flow = create_flow(client, owner, delayed_api_flow(str(template_id)))
    other_flow = create_flow(client, owner, delayed_api_flow(str(template_id)), name="Other")
    publish(client, owner, flow["id"])
    enrolled = enrol(client, owner, flow["id"], profile={"email": "t@example.com"}).json()
    enrolment_path = f"/api/flows/{flow['id']}/enrolments/{{id}}"
    endpoints = [
        Endpoint("GET", enrolment_path),
        Endpoint("DELETE", enrolment_path),
    ]
    read_back = Endpoint("GET", enrolment_path)
    assert_isolated(client, owner, intruder, enrolled["enrolment_id"], endpoints, read_back)
    assert_management_only(client, owner, enrolled["enrolment_id"], endpoints)
    # The enrolment named under another flow of the same organization is not found either.
    wrong_flow = client.delete(
        f"/api/flows/{other_flow['id']}/enrolments/{enrolled['enrolment_id']}",
        headers=owner.secret_headers,
    )
    assert wrong_flow.status_code == 404
    flows_of = [Endpoint("GET", "/api/profiles/{id}/flows")]
    assert_isolated(
        client, owner, intruder, enrolled["profile_id"], flows_of, Endpoint("GET", flows_of[0].path)
    )
    assert_management_only(client, owner, enrolled["profile_id"], flows_of)
    enrol_endpoint = [Endpoint("POST", "/api/flows/{id}/enrol", {"profile": {"email": "i@x.io"}})]
    assert_isolated(
        client, owner, intruder, flow["id"], enrol_endpoint, Endpoint("GET", "/api/flows/{id}")
    )
    assert_management_only(client, owner, flow["id"], enrol_endpoint)
    assert enrolment(client, owner, flow["id"], enrolled["enrolment_id"])["status"] == "active"
