"""Helpers for the flows API tests: definitions, templates and calls that assert success."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from herald.db import get_database
from herald.models import EmailTemplate
from tests.factories import OrgFixture


def make_template(org: OrgFixture, name: str = "Reminder") -> str:
    with get_database().transaction() as session:
        template = EmailTemplate(
            org_id=org.org_id,
            name=name,
            kind="marketing",
            subject="Hello {{ profile.first_name | default('you') }}",
            body_format="html",
            body="<p>Your {{ event.item | default('cart') }} is waiting</p>",
            compiled_html="<html><body><p>Your {{ event.item | default('cart') }} is waiting</p>"
            '<a href="{{ unsubscribe_url }}">Unsubscribe</a></body></html>',
        )
        session.add(template)
    return str(template.id)


def cart_flow(template_id: str, metric: str = "Started Checkout") -> dict[str, Any]:
    """Started Checkout -> 4 h -> email, leaving when an order is placed."""
    return {
        "trigger": {"type": "metric", "metric": metric},
        "filters": {
            "conditions": [
                {
                    "type": "event",
                    "metric": "Placed Order",
                    "operator": "exactly",
                    "value": 0,
                    "window": {"type": "since_flow_start"},
                }
            ]
        },
        "start": "wait",
        "steps": [
            {
                "id": "wait",
                "type": "delay",
                "delay": {"amount": 4, "unit": "hours"},
                "outputs": {"next": "email"},
            },
            {
                "id": "email",
                "type": "send_email",
                "email": {"template_id": template_id, "subject": "Still there?"},
                "outputs": {"next": None},
            },
        ],
    }


def api_flow(template_id: str) -> dict[str, Any]:
    """Entered through the API; a trigger split on the payload, then an email."""
    return {
        "trigger": {"type": "api"},
        "start": "big",
        "steps": [
            {
                "id": "big",
                "type": "trigger_split",
                "filters": [{"property": "total", "operator": "greater_than", "value": 100}],
                "outputs": {"yes": "email", "no": None},
            },
            {
                "id": "email",
                "type": "send_email",
                "email": {"template_id": template_id},
                "outputs": {"next": None},
            },
        ],
    }


def delayed_api_flow(template_id: str) -> dict[str, Any]:
    """Entered through the API, then a day's wait before the email."""
    return {
        "trigger": {"type": "api"},
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
                "email": {"template_id": template_id},
                "outputs": {"next": None},
            },
        ],
    }


def create_flow(
    client: TestClient, org: OrgFixture, definition: dict[str, Any], name: str = "Cart"
) -> dict[str, Any]:
    response = client.post(
        "/api/flows", json={"name": name, "definition": definition}, headers=org.secret_headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def get_flow(client: TestClient, org: OrgFixture, flow_id: str) -> dict[str, Any]:
    response = client.get(f"/api/flows/{flow_id}", headers=org.secret_headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def act(client: TestClient, org: OrgFixture, flow_id: str, action: str) -> Any:
    return client.post(f"/api/flows/{flow_id}/{action}", headers=org.secret_headers)


def publish(client: TestClient, org: OrgFixture, flow_id: str) -> dict[str, Any]:
    response = act(client, org, flow_id, "publish")
    assert response.status_code == 200, response.text
    return dict(response.json())


def identify(client: TestClient, org: OrgFixture, **body: Any) -> str:
    response = client.post("/api/identify", json=body, headers=org.public_headers)
    assert response.status_code == 200, response.text
    return str(response.json()["profile_id"])


def fields(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {f["field"]: f["reason"] for f in response.json()["error"]["fields"]}
