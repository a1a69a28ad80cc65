"""Email templates through the API, on both databases: saving with save-time checks (positions,
marketing requirements, MJML), names, duplicates, previews for a profile or sample data,
tenancy and dashboard access."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from herald.db import Database
from herald.models import EmailSettings
from tests.factories import OrgFixture, make_org, make_user, sign_in
from tests.tenancy import Endpoint, assert_isolated, assert_management_only

FOOTER = (
    '<mj-text>{{ organization.postal_address }} <a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    "</mj-text>"
)


def mjml(content: str, footer: str = FOOTER) -> str:
    return (
        "<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n"
        f"{content}\n{footer}\n"
        "</mj-column>\n</mj-section>\n</mj-body>\n</mjml>"
    )


WELCOME = {
    "name": "Welcome",
    "subject": "Welcome, {{ profile.first_name | default('friend') }}",
    "preheader": "Your {{ organization.name }} account is ready",
    "from_name": "Acme",
    "from_email": "Hello@Acme.example",
    "reply_to": "support@acme.example",
    "body": mjml("<mj-text>Hi {{ profile.first_name | default('there') }}</mj-text>"),
}


def create(client: TestClient, org: OrgFixture, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/templates", json={**WELCOME, **fields}, headers=org.secret_headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    body = response.json()["error"]
    assert body["code"] == "invalid"
    found: dict[str, str] = {}
    for field in body["fields"]:
        found[field["field"]] = " | ".join(
            filter(None, [found.get(field["field"]), field["reason"]])
        )
    return found


def set_postal_address(database: Database, org: OrgFixture, address: str) -> None:
    with database.transaction() as session:
        session.merge(EmailSettings(org_id=org.org_id, postal_address=address))


def test_create_read_list_update_delete(client: TestClient) -> None:
    org = make_org()
    created = create(client, org)
    assert created["kind"] == "marketing" and created["body_format"] == "mjml"
    assert created["from_email"] == "hello@acme.example"  # normalized
    assert "<mjml>" not in created["compiled_html"] and "<table" in created["compiled_html"]
    assert "{{ profile.first_name | default('there') }}" in created["compiled_html"]
    assert created["text_body"] is None

    got = client.get(f"/api/templates/{created['id']}", headers=org.secret_headers)
    assert got.status_code == 200 and got.json() == created
    listed = client.get("/api/templates", headers=org.secret_headers).json()["data"]
    assert [t["name"] for t in listed] == ["Welcome"] and "body" not in listed[0]

    patched = client.patch(
        f"/api/templates/{created['id']}",
        json={
            "body_format": "html",
            "body": "<p>Hi</p><p>{{ organization.postal_address }}</p>"
            '<a href="{{ unsubscribe_url }}">Unsubscribe</a>',
            "text_body": "Hi\n{{ organization.postal_address }}\n{{ unsubscribe_url }}",
            "preheader": None,
        },
        headers=org.secret_headers,
    )
    assert patched.status_code == 200, patched.text
    updated = patched.json()
    assert updated["compiled_html"] == updated["body"] and updated["preheader"] is None
    assert updated["name"] == "Welcome" and updated["subject"] == WELCOME["subject"]

    deleted = client.delete(f"/api/templates/{created['id']}", headers=org.secret_headers)
    assert deleted.status_code == 204
    missing = client.get(f"/api/templates/{created['id']}", headers=org.secret_headers)
    assert missing.status_code == 404


def test_jinja_problems_are_422_with_line_and_column(client: TestClient) -> None:
    org = make_org()
    body = mjml("<mj-text>\n  Hi {{ profile.first_name }\n</mj-text>")
    fields = errors(
        client.post("/api/templates", json={**WELCOME, "body": body}, headers=org.secret_headers)
    )
    assert list(fields) == ["body"]
    assert fields["body"] == "line 6, column 28: unexpected '}'", fields

    fields = errors(
        client.post(
            "/api/templates",
            json={
                **WELCOME,
                "subject": "Hi {{ frist_name }}",
                "body": mjml("<mj-text>{{ profile.city }}\n   {{ orders }}</mj-text>"),
                "text_body": "{% if %}",
            },
            headers=org.secret_headers,
        )
    )
    assert set(fields) == {"subject", "body", "text_body"}
    assert "line 1, column 7" in fields["subject"] and "frist_name" in fields["subject"]
    assert "line 6, column 7" in fields["body"] and "'orders' is not defined" in fields["body"]
    assert client.get("/api/templates", headers=org.secret_headers).json()["data"] == []


def test_marketing_templates_need_the_unsubscribe_link_and_postal_address(
    client: TestClient,
) -> None:
    org = make_org()
    response = client.post(
        "/api/templates",
        json={**WELCOME, "body": mjml("<mj-text>Sale!</mj-text>", footer="")},
        headers=org.secret_headers,
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert "unsubscribe" in error["message"] and "postal address" in error["message"]
    reasons = [f["reason"] for f in error["fields"] if f["field"] == "body"]
    assert any("{{ unsubscribe_url }}" in r for r in reasons)
    assert any("{{ organization.postal_address }}" in r for r in reasons)
    # Transactional email need not carry them; turning it into marketing email is checked.
    receipt = create(
        client, org, name="Receipt", kind="transactional", body=mjml("<mj-text>Paid</mj-text>", "")
    )
    fields = errors(
        client.patch(
            f"/api/templates/{receipt['id']}",
            json={"kind": "marketing"},
            headers=org.secret_headers,
        )
    )
    assert "unsubscribe" in fields["body"]


def test_mjml_errors_and_html_bodies(client: TestClient) -> None:
    org = make_org()
    broken = (
        "<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n<mj-text>x</mj-column>\n"
        "</mj-section></mj-body></mjml>"
    )
    fields = errors(
        client.post(
            "/api/templates",
            json={**WELCOME, "body": broken, "kind": "transactional"},
            headers=org.secret_headers,
        )
    )
    assert fields["body"].startswith("line 5, column 11: </mj-column> does not close <mj-text>")
    html = create(
        client,
        org,
        name="Plain",
        body_format="html",
        body='<p>{{ organization.postal_address }}</p><a href="{{ preferences_url }}">Manage</a>',
    )
    assert html["compiled_html"] == html["body"]


def test_fields_are_validated(client: TestClient) -> None:
    org = make_org()
    fields = errors(
        client.post(
            "/api/templates",
            json={**WELCOME, "from_email": "not an email", "reply_to": "x@", "body_format": "txt"},
            headers=org.secret_headers,
        )
    )
    assert {"from_email", "reply_to", "body_format"} <= set(fields)
    fields = errors(
        client.post("/api/templates", json={**WELCOME, "name": "  "}, headers=org.secret_headers)
    )
    assert "name" in fields
    created = create(client, org)
    fields = errors(
        client.patch(
            f"/api/templates/{created['id']}", json={"body": None}, headers=org.secret_headers
        )
    )
    assert "body" in fields


def test_names_are_unique_per_organization(client: TestClient) -> None:
    org, other = make_org(), make_org()
    first = create(client, org)
    fields = errors(client.post("/api/templates", json=WELCOME, headers=org.secret_headers))
    assert fields == {"name": "another template already has this name"}
    create(client, other)  # another organization may use the name
    second = create(client, org, name="Second")
    fields = errors(
        client.patch(
            f"/api/templates/{second['id']}", json={"name": "Welcome"}, headers=org.secret_headers
        )
    )
    assert "name" in fields
    # Renaming to its own name is not a clash.
    same = client.patch(
        f"/api/templates/{first['id']}", json={"name": "Welcome"}, headers=org.secret_headers
    )
    assert same.status_code == 200


def test_duplicate(client: TestClient) -> None:
    org = make_org()
    original = create(client, org)
    copies = []
    for _ in range(3):
        response = client.post(
            f"/api/templates/{original['id']}/duplicate", headers=org.secret_headers
        )
        assert response.status_code == 201, response.text
        copies.append(response.json())
    assert [c["name"] for c in copies] == ["Welcome (copy)", "Welcome (copy 2)", "Welcome (copy 3)"]
    assert copies[0]["id"] != original["id"]
    for field in ("subject", "preheader", "body", "compiled_html", "kind", "from_email"):
        assert copies[0][field] == original[field]


def test_preview_for_a_profile_and_for_sample_data(client: TestClient, database: Database) -> None:
    org = make_org()
    set_postal_address(database, org, "1 Main St, Springfield")
    identify = client.post(
        "/api/identify",
        json={
            "email": "ada@example.com",
            "first_name": "ada",
            "properties": {"plan": "Pro <gold>"},
        },
        headers=org.public_headers,
    )
    assert identify.status_code == 200, identify.text
    profile_id = identify.json()["profile_id"]
    saved = create(
        client,
        org,
        subject="Hi {{ profile.first_name|title }}\nBcc: x@example.com",
        body=mjml(
            "<mj-text>Plan: {{ profile.plan }} / {{ data.coupon|default('none') }}</mj-text>"
        ),
    )

    response = client.post(
        f"/api/templates/{saved['id']}/preview",
        json={"profile_id": profile_id, "sample": {"data": {"coupon": "SAVE10"}}},
        headers=org.secret_headers,
    )
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["subject"] == "Hi Ada Bcc: x@example.com"
    assert preview["preheader"] == "Your Acme account is ready"
    assert "Plan: Pro &lt;gold&gt; / SAVE10" in preview["html"]
    assert "1 Main St, Springfield" in preview["html"]
    assert "Plan: Pro <gold> / SAVE10" in preview["text"]

    # Sample data instead of a profile, for an unsaved template.
    response = client.post(
        "/api/templates/preview",
        json={
            "subject": "For {{ profile.first_name }}",
            "body_format": "html",
            "body": "<p>{{ profile.plan }} {{ event.name }}</p>",
            "sample": {
                "profile": {"first_name": "Sam", "properties": {"plan": "Free"}},
                "event": {"name": "Signed Up"},
            },
        },
        headers=org.secret_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "subject": "For Sam",
        "preheader": None,
        "html": "<p>Free Signed Up</p>",
        "text": "Free Signed Up\n",
    }


def test_preview_reports_problems_with_positions(client: TestClient) -> None:
    org = make_org()
    response = client.post(
        "/api/templates/preview",
        json={"body_format": "html", "body": "<p>\n{% for x in data.rows %}\n</p>"},
        headers=org.secret_headers,
    )
    fields = errors(response)
    assert fields["body"].startswith("line 2, column 1: {% for %} is never closed")
    # Marketing requirements wait for the save; render-time errors are 422 too.
    response = client.post(
        "/api/templates/preview",
        json={
            "body_format": "html",
            "body": "<p>{{ 1 / data.zero }}</p>",
            "sample": {"data": {"zero": 0}},
        },
        headers=org.secret_headers,
    )
    assert "ZeroDivisionError" in errors(response)["body"]
    # Another organization's profile is not found.
    other = make_org()
    identify = client.post(
        "/api/identify", json={"email": "x@example.com"}, headers=other.public_headers
    )
    response = client.post(
        "/api/templates/preview",
        json={
            "body_format": "html",
            "body": "<p>x</p>",
            "profile_id": identify.json()["profile_id"],
        },
        headers=org.secret_headers,
    )
    assert response.status_code == 404


def test_tenancy(client: TestClient) -> None:
    owner, intruder = make_org(), make_org()
    template = create(client, owner)
    endpoints = [
        Endpoint("GET", "/api/templates/{id}"),
        Endpoint("PATCH", "/api/templates/{id}", json={"name": "Stolen"}),
        Endpoint("POST", "/api/templates/{id}/duplicate"),
        Endpoint("POST", "/api/templates/{id}/preview", json={}),
        Endpoint("POST", "/api/templates/{id}/test-send", json={"email": "t@example.com"}),
        Endpoint("DELETE", "/api/templates/{id}"),
    ]
    assert_isolated(
        client, owner, intruder, template["id"], endpoints, Endpoint("GET", "/api/templates/{id}")
    )
    assert client.get("/api/templates", headers=intruder.secret_headers).json()["data"] == []
    assert_management_only(
        client,
        owner,
        template["id"],
        [
            *endpoints,
            Endpoint("GET", "/api/templates"),
            Endpoint("POST", "/api/templates", json=WELCOME),
            Endpoint("POST", "/api/templates/preview", json={"body": "<p>x</p>"}),
        ],
    )


def test_dashboard_members_can_edit_templates(client: TestClient) -> None:
    org = make_org()
    email, password = make_user(org, role="member")
    csrf = sign_in(client, email, password)
    response = client.post("/api/templates", json=WELCOME, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201, response.text
    preview = client.post(
        f"/api/templates/{response.json()['id']}/preview", json={}, headers={"X-CSRF-Token": csrf}
    )
    assert preview.status_code == 200, preview.text
    assert "Hi there" in preview.json()["html"]


def test_test_send_to_any_address(client: TestClient, database: Database) -> None:
    org = make_org()
    set_postal_address(database, org, "1 Main Street")
    template = create(
        client,
        org,
        body=mjml("<mj-text>Order {{ data.order }} for {{ profile.first_name }}</mj-text>"),
    )
    url = f"/api/templates/{template['id']}/test-send"
    sent = client.post(
        url,
        json={"email": "Tester@Example.com", "data": {"order": "A-1"}},
        headers=org.secret_headers,
    )
    assert sent.status_code == 202, sent.text
    message = client.get(f"/api/messages/{sent.json()['message_id']}", headers=org.secret_headers)
    assert message.status_code == 200, message.text
    assert message.json()["to_address"] == "tester@example.com"
    assert message.json()["source"] == "transactional"
    # Each test is a message of its own.
    again = client.post(url, json={"email": "tester@example.com"}, headers=org.secret_headers)
    assert again.status_code == 202 and again.json()["message_id"] != sent.json()["message_id"]
    assert "email" in errors(
        client.post(url, json={"email": "not an address"}, headers=org.secret_headers)
    )
    missing = client.post(
        "/api/templates/00000000-0000-0000-0000-000000000000/test-send",
        json={"email": "t@example.com"},
        headers=org.secret_headers,
    )
    assert missing.status_code == 404
