"""Saved SMS templates through the API: create, list, read, change and delete; the text checked by
the same renderer as SMS campaigns (a 422 naming the field); names unique per organization;
another organization's template is a 404; management credentials only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import make_org
from tests.tenancy import Endpoint, assert_isolated, assert_management_only


def problems(response: object) -> dict[str, str]:
    assert response.status_code == 422, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    return {f["field"]: f["reason"] for f in body["error"]["fields"]}


def test_sms_templates_crud(client: TestClient) -> None:
    org = make_org()
    headers = org.secret_headers
    created = client.post(
        "/api/sms/templates",
        json={"name": "Welcome", "body": "Hi {{ profile.first_name | default('there') }}!"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    template = created.json()
    assert (template["name"], template["media_urls"]) == ("Welcome", [])
    other = client.post(
        "/api/sms/templates",
        json={"name": "Back in stock", "body": "It is back", "media_urls": ["https://x.io/a.png"]},
        headers=headers,
    ).json()
    listed = client.get("/api/sms/templates", headers=headers).json()["data"]
    assert [t["name"] for t in listed] == ["Back in stock", "Welcome"]

    changed = client.patch(
        f"/api/sms/templates/{template['id']}", json={"body": "Hello again"}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["body"]) == ("Welcome", "Hello again")
    read = client.get(f"/api/sms/templates/{template['id']}", headers=headers).json()
    assert read["body"] == "Hello again"

    assert client.delete(f"/api/sms/templates/{other['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/sms/templates/{other['id']}", headers=headers).status_code == 404
    assert [
        t["name"] for t in client.get("/api/sms/templates", headers=headers).json()["data"]
    ] == ["Welcome"]


def test_sms_template_input_is_validated_naming_the_field(client: TestClient) -> None:
    org = make_org()
    headers = org.secret_headers

    def create(body: dict[str, object]) -> dict[str, str]:
        return problems(client.post("/api/sms/templates", json=body, headers=headers))

    broken = create({"name": "Broken", "body": "Hi {{ profile.first_name "})
    assert list(broken) == ["body"] and "line 1" in broken["body"]
    assert list(create({"name": "Unsafe", "body": "{{ ''.__class__ }}"})) == ["body"]
    assert list(create({"name": "", "body": "Hi"})) == ["name"]
    assert list(create({"name": "Long", "body": "x" * 1601})) == ["body"]
    assert list(create({"name": "Media", "body": "Hi", "media_urls": ["ftp://x"]})) == [
        "media_urls[0]"
    ]
    assert list(create({"name": "Extra", "body": "Hi", "subject": "no"})) == ["subject"]

    first = client.post("/api/sms/templates", json={"name": "A", "body": "a"}, headers=headers)
    second = client.post("/api/sms/templates", json={"name": "B", "body": "b"}, headers=headers)
    assert create({"name": "A", "body": "again"}) == {
        "name": "another SMS template already has this name"
    }
    renamed = client.patch(
        f"/api/sms/templates/{second.json()['id']}", json={"name": "A"}, headers=headers
    )
    assert list(problems(renamed)) == ["name"]
    emptied = client.patch(
        f"/api/sms/templates/{first.json()['id']}", json={"body": None}, headers=headers
    )
    assert list(problems(emptied)) == ["body"]


def test_sms_templates_belong_to_their_organization(client: TestClient) -> None:
    owner, intruder = make_org(), make_org()
    template = client.post(
        "/api/sms/templates", json={"name": "Mine", "body": "Hi"}, headers=owner.secret_headers
    ).json()
    # Another organization may use the same name.
    theirs = client.post(
        "/api/sms/templates", json={"name": "Mine", "body": "Yo"}, headers=intruder.secret_headers
    )
    assert theirs.status_code == 201, theirs.text
    endpoints = [
        Endpoint("GET", "/api/sms/templates/{id}"),
        Endpoint("PATCH", "/api/sms/templates/{id}", {"body": "Taken over"}),
        Endpoint("DELETE", "/api/sms/templates/{id}"),
    ]
    assert_isolated(
        client,
        owner,
        intruder,
        template["id"],
        endpoints,
        Endpoint("GET", "/api/sms/templates/{id}"),
    )
    listed = client.get("/api/sms/templates", headers=intruder.secret_headers).json()["data"]
    assert [t["body"] for t in listed] == ["Yo"]
    assert_management_only(
        client,
        owner,
        template["id"],
        [*endpoints, Endpoint("GET", "/api/sms/templates"), Endpoint("POST", "/api/sms/templates")],
    )
