"""Flows through the API: the draft, publishing and its checks, status changes, copies, flow
templates, the webhook signing secret, and tenancy for every route that names a flow."""

from __future__ import annotations

import copy
import uuid

from fastapi.testclient import TestClient

from tests.factories import make_org, sign_in
from tests.flows.api import (
    act,
    api_flow,
    cart_flow,
    create_flow,
    fields,
    get_flow,
    identify,
    make_template,
    publish,
)
from tests.tenancy import Endpoint, assert_isolated, assert_management_only


def test_a_flow_is_created_as_a_draft_and_read_back(client: TestClient) -> None:
    org = make_org()
    template_id = make_template(org)
    created = create_flow(client, org, cart_flow(template_id))
    assert created["status"] == "draft"
    assert created["version"] is None and created["published"] is None
    assert created["has_unpublished_changes"] is True
    assert created["trigger_type"] == "metric"
    assert created["trigger_label"] == "Started Checkout"
    assert created["draft"]["steps"][1]["email"]["template_id"] == template_id
    assert created["results_30d"] == {
        "entered": 0,
        "completed": 0,
        "sent": 0,
        "opened": 0,
        "clicked": 0,
        "conversions": 0,
        "revenue": 0.0,
    }
    assert get_flow(client, org, created["id"]) == created
    listed = client.get("/api/flows", headers=org.secret_headers).json()["data"]
    assert [f["id"] for f in listed] == [created["id"]]
    assert "draft" not in listed[0]


def test_a_graph_error_names_the_step_and_field_and_stores_nothing(client: TestClient) -> None:
    org = make_org()
    definition = cart_flow(make_template(org))
    definition["steps"][0]["delay"]["amount"] = 0
    problems = fields(
        client.post(
            "/api/flows", json={"name": "Bad", "definition": definition}, headers=org.secret_headers
        )
    )
    assert "definition.steps[0].delay.amount" in problems
    definition["steps"][0]["delay"]["amount"] = 4
    definition["steps"][0]["outputs"]["next"] = "nowhere"
    problems = fields(
        client.post(
            "/api/flows", json={"name": "Bad", "definition": definition}, headers=org.secret_headers
        )
    )
    assert problems == {"definition.steps[0].outputs.next": "no step has the id 'nowhere'"}
    assert client.get("/api/flows", headers=org.secret_headers).json() == {"data": []}


def test_editing_the_draft_and_its_layout(client: TestClient) -> None:
    org = make_org()
    template_id = make_template(org)
    flow = create_flow(client, org, cart_flow(template_id))
    definition = cart_flow(template_id)
    definition["steps"][0]["delay"] = {"amount": 2, "unit": "days"}
    response = client.patch(
        f"/api/flows/{flow['id']}",
        json={
            "name": "Cart reminder",
            "definition": definition,
            "layout": {"trigger": {"x": 0, "y": 0}, "wait": {"x": 0, "y": 120.5}},
        },
        headers=org.secret_headers,
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["name"] == "Cart reminder"
    assert edited["draft"]["steps"][0]["delay"] == {"amount": 2, "unit": "days", "until": None}
    assert edited["layout"] == {"trigger": {"x": 0, "y": 0}, "wait": {"x": 0, "y": 120.5}}
    # A bad edit is refused whole: the name in the same request is not changed either.
    broken = copy.deepcopy(definition)
    broken["start"] = "missing"
    problems = fields(
        client.patch(
            f"/api/flows/{flow['id']}",
            json={"name": "Renamed", "definition": broken},
            headers=org.secret_headers,
        )
    )
    assert problems == {"definition.start": "no step has the id 'missing'"}
    assert get_flow(client, org, flow["id"]) == edited


def test_publishing_needs_a_chosen_template_of_the_organization(client: TestClient) -> None:
    org, other = make_org(), make_org("Other")
    flow = create_flow(client, org, cart_flow(str(uuid.UUID(int=0))))
    problems = fields(act(client, org, flow["id"], "publish"))
    assert problems == {"definition.steps[1].email.template_id": "choose an email template"}
    foreign = make_template(other)
    client.patch(
        f"/api/flows/{flow['id']}",
        json={"definition": cart_flow(foreign)},
        headers=org.secret_headers,
    )
    problems = fields(act(client, org, flow["id"], "publish"))
    assert problems == {
        "definition.steps[1].email.template_id": (
            f"no email template {foreign} in this organization"
        )
    }
    assert get_flow(client, org, flow["id"])["status"] == "draft"


def test_publishing_checks_segments_and_webhook_urls(client: TestClient) -> None:
    org, other = make_org(), make_org("Other")
    template_id = make_template(org)
    segment = {
        "conditions": [{"type": "profile", "field": "city", "operator": "equals", "value": "X"}]
    }
    foreign_segment = client.post(
        "/api/segments", json={"name": "S", "definition": segment}, headers=other.secret_headers
    ).json()["id"]
    definition = {
        "trigger": {"type": "segment_entered", "segment_id": foreign_segment},
        "start": "hook",
        "steps": [
            {
                "id": "hook",
                "type": "webhook",
                "webhook": {"url": "http://127.0.0.1:8080/hook"},
                "outputs": {"next": "meta"},
            },
            {
                "id": "meta",
                "type": "webhook",
                "webhook": {"url": "http://169.254.169.254/latest/meta-data"},
                "outputs": {"next": "mail"},
            },
            {
                "id": "mail",
                "type": "send_email",
                "email": {"template_id": template_id},
                "outputs": {"next": None},
            },
        ],
    }
    flow = create_flow(client, org, definition)
    # Another organization's segment name is not shown either.
    assert flow["trigger_label"] == "Enters a segment (not found)"
    problems = fields(act(client, org, flow["id"], "publish"))
    assert problems["definition.trigger.segment_id"] == (
        f"no segment {foreign_segment} in this organization"
    )
    assert "loopback" in problems["definition.steps[0].webhook.url"]
    assert "link-local" in problems["definition.steps[1].webhook.url"]
    assert set(problems) == {
        "definition.trigger.segment_id",
        "definition.steps[0].webhook.url",
        "definition.steps[1].webhook.url",
    }
    assert get_flow(client, org, flow["id"])["status"] == "draft"


def test_publish_makes_versions_and_keeps_the_published_one_running(client: TestClient) -> None:
    org = make_org()
    template_id = make_template(org)
    flow = create_flow(client, org, cart_flow(template_id))
    live = publish(client, org, flow["id"])
    assert (live["status"], live["version"], live["has_unpublished_changes"]) == ("live", 1, False)
    assert live["published"] == live["draft"]
    assert live["live_at"] is not None
    # Publishing again without a change makes no new version.
    assert publish(client, org, flow["id"])["version"] == 1
    edited = cart_flow(template_id)
    edited["steps"][0]["delay"]["amount"] = 1
    response = client.patch(
        f"/api/flows/{flow['id']}", json={"definition": edited}, headers=org.secret_headers
    )
    assert response.json()["has_unpublished_changes"] is True
    assert response.json()["published"]["steps"][0]["delay"]["amount"] == 4
    republished = publish(client, org, flow["id"])
    assert republished["version"] == 2
    assert republished["published"]["steps"][0]["delay"]["amount"] == 1


def test_status_changes_and_the_ones_refused(client: TestClient) -> None:
    org = make_org()
    flow = create_flow(client, org, cart_flow(make_template(org)))
    for action in ("pause", "resume"):
        refused = act(client, org, flow["id"], action)
        assert refused.status_code == 409, refused.text
    publish(client, org, flow["id"])
    paused = act(client, org, flow["id"], "pause").json()
    assert (paused["status"], paused["paused_at"] is not None) == ("paused", True)
    assert act(client, org, flow["id"], "pause").status_code == 409
    # Publishing a paused flow keeps it paused.
    assert publish(client, org, flow["id"])["status"] == "paused"
    resumed = act(client, org, flow["id"], "resume").json()
    assert (resumed["status"], resumed["paused_at"]) == ("live", None)
    archived = act(client, org, flow["id"], "archive").json()
    assert archived["status"] == "archived" and archived["archived_at"] is not None
    for action in ("pause", "resume", "archive", "publish"):
        assert act(client, org, flow["id"], action).status_code == 409
    refused = client.patch(
        f"/api/flows/{flow['id']}", json={"name": "Again"}, headers=org.secret_headers
    )
    assert refused.status_code == 409
    assert client.get("/api/flows", headers=org.secret_headers).json() == {"data": []}
    listed = client.get("/api/flows", params={"status": "archived"}, headers=org.secret_headers)
    assert [f["id"] for f in listed.json()["data"]] == [flow["id"]]


def test_delete_removes_a_draft_and_archives_a_flow_that_ran(client: TestClient) -> None:
    org = make_org()
    template_id = make_template(org)
    draft = create_flow(client, org, cart_flow(template_id), name="Draft")
    ran = create_flow(client, org, cart_flow(template_id), name="Ran")
    publish(client, org, ran["id"])
    for flow in (draft, ran):
        response = client.delete(f"/api/flows/{flow['id']}", headers=org.secret_headers)
        assert response.status_code == 204, response.text
    assert client.get(f"/api/flows/{draft['id']}", headers=org.secret_headers).status_code == 404
    assert get_flow(client, org, ran["id"])["status"] == "archived"


def test_duplicate_copies_the_draft_as_a_new_draft(client: TestClient) -> None:
    org = make_org()
    flow = create_flow(client, org, cart_flow(make_template(org)))
    publish(client, org, flow["id"])
    client.patch(
        f"/api/flows/{flow['id']}",
        json={"layout": {"wait": {"x": 5, "y": 6}}},
        headers=org.secret_headers,
    )
    response = act(client, org, flow["id"], "duplicate")
    assert response.status_code == 201, response.text
    copied = response.json()
    assert copied["id"] != flow["id"]
    assert (copied["name"], copied["status"], copied["version"]) == ("Cart (copy)", "draft", None)
    assert copied["draft"] == flow["draft"]
    assert copied["layout"] == {"wait": {"x": 5.0, "y": 6.0}}


def test_flow_templates_give_an_editable_draft(client: TestClient) -> None:
    org = make_org()
    listed = client.get("/api/flow-templates", headers=org.secret_headers)
    assert listed.status_code == 200, listed.text
    keys = [t["key"] for t in listed.json()["data"]]
    assert "abandoned_cart" in keys and "birthday" in keys
    response = client.post(
        "/api/flows/from-template",
        json={"template": "abandoned_cart"},
        headers=org.secret_headers,
    )
    assert response.status_code == 201, response.text
    flow = response.json()
    assert (flow["name"], flow["status"], flow["trigger_label"]) == (
        "Abandoned cart",
        "draft",
        "Started Checkout",
    )
    # Its emails ask for a template before it can run.
    problems = fields(act(client, org, flow["id"], "publish"))
    assert problems == {
        "definition.steps[1].email.template_id": "choose an email template",
        "definition.steps[3].email.template_id": "choose an email template",
    }
    named = client.post(
        "/api/flows/from-template",
        json={"template": "welcome_series", "name": "Hello"},
        headers=org.secret_headers,
    ).json()
    assert named["name"] == "Hello"
    assert named["trigger_label"] == "Enters a segment (not chosen)"
    assert "definition.trigger.segment_id" in fields(act(client, org, named["id"], "publish"))
    unknown = client.post(
        "/api/flows/from-template", json={"template": "nope"}, headers=org.secret_headers
    )
    assert "template" in fields(unknown)


def test_the_webhook_signing_secret_is_shown_and_rotated_by_an_owner_only(
    client: TestClient,
) -> None:
    org = make_org()
    # A secret key acts as an admin: not enough.
    refused = client.get("/api/flows/webhook-settings", headers=org.secret_headers)
    assert refused.status_code == 403, refused.text
    csrf = sign_in(client, org.owner_email)
    first = client.get("/api/flows/webhook-settings")
    assert first.status_code == 200, first.text
    secret = first.json()["signing_secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert client.get("/api/flows/webhook-settings").json()["signing_secret"] == secret
    rotated = client.post("/api/flows/webhook-settings/rotate", headers={"X-CSRF-Token": csrf})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["signing_secret"] not in (secret, "")
    assert client.get("/api/flows/webhook-settings").json() == rotated.json()


def test_flows_are_isolated_between_organizations(client: TestClient) -> None:
    owner, intruder = make_org(), make_org("Other")
    template_id = make_template(owner)
    flow = create_flow(client, owner, cart_flow(template_id))
    profile_id = identify(client, owner, email="p@example.com")
    endpoints = [
        Endpoint("GET", "/api/flows/{id}"),
        Endpoint("PATCH", "/api/flows/{id}", {"name": "Mine now"}),
        Endpoint("DELETE", "/api/flows/{id}"),
        Endpoint("POST", "/api/flows/{id}/publish"),
        Endpoint("POST", "/api/flows/{id}/pause"),
        Endpoint("POST", "/api/flows/{id}/resume"),
        Endpoint("POST", "/api/flows/{id}/archive"),
        Endpoint("POST", "/api/flows/{id}/duplicate"),
        Endpoint("POST", "/api/flows/{id}/test", {"profile_id": profile_id}),
        Endpoint("GET", "/api/flows/{id}/results"),
        Endpoint("GET", "/api/flows/{id}/enrolments"),
    ]
    read_back = Endpoint("GET", "/api/flows/{id}")
    assert_isolated(client, owner, intruder, flow["id"], endpoints, read_back)
    assert_management_only(client, owner, flow["id"], endpoints)
    assert client.get("/api/flows", headers=intruder.secret_headers).json() == {"data": []}
    # The intruder's own template cannot be used to test the owner's flow either.
    assert_management_only(
        client,
        owner,
        "",
        [
            Endpoint("GET", "/api/flows"),
            Endpoint("POST", "/api/flows", {"name": "x", "definition": api_flow(template_id)}),
            Endpoint("GET", "/api/flow-templates"),
            Endpoint("POST", "/api/flows/from-template", {"template": "birthday"}),
            Endpoint("GET", "/api/flows/webhook-settings"),
        ],
    )


def test_a_retried_create_with_an_idempotency_key_makes_one_flow(client: TestClient) -> None:
    org = make_org()
    body = {"name": "Once", "definition": cart_flow(make_template(org))}
    headers = {**org.secret_headers, "Idempotency-Key": "create-flow-1"}
    first = client.post("/api/flows", json=body, headers=headers)
    again = client.post("/api/flows", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    listed = client.get("/api/flows", headers=org.secret_headers).json()["data"]
    assert [f["id"] for f in listed] == [first.json()["id"]]


def test_the_list_shows_each_flows_own_state(client: TestClient) -> None:
    org = make_org()
    template_id = make_template(org)
    draft = create_flow(client, org, cart_flow(template_id), name="Draft")
    live = create_flow(client, org, cart_flow(template_id, "Viewed Product"), name="Live")
    publish(client, org, live["id"])
    edited = create_flow(client, org, cart_flow(template_id), name="Edited")
    publish(client, org, edited["id"])
    client.patch(
        f"/api/flows/{edited['id']}",
        json={"definition": cart_flow(template_id, "Added to Cart")},
        headers=org.secret_headers,
    )
    listed = {
        f["name"]: f for f in client.get("/api/flows", headers=org.secret_headers).json()["data"]
    }
    assert [f["name"] for f in listed.values()] == ["Edited", "Live", "Draft"]
    assert (listed["Draft"]["version"], listed["Draft"]["has_unpublished_changes"]) == (None, True)
    assert (listed["Live"]["version"], listed["Live"]["has_unpublished_changes"]) == (1, False)
    assert listed["Live"]["trigger_label"] == "Viewed Product"
    assert (listed["Edited"]["version"], listed["Edited"]["has_unpublished_changes"]) == (1, True)
    assert listed["Edited"]["trigger_label"] == "Added to Cart"
    assert draft["id"] == listed["Draft"]["id"]
