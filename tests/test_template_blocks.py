"""Saved template blocks through the API, on both databases: one section or wrapper checked by
compiling it inside a minimal MJML document, errors under `mjml` at the block's own lines,
updates, pages, tenancy."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import OrgFixture, make_org
from tests.tenancy import Endpoint, assert_isolated, assert_management_only

SECTION = (
    "<mj-section>\n  <mj-column>\n"
    "    <mj-text>Hi {{ profile.first_name | default('there') }}</mj-text>\n"
    "  </mj-column>\n</mj-section>"
)
WRAPPER = f'<mj-wrapper padding="10px">\n{SECTION}\n{SECTION}\n</mj-wrapper>'


def create(client: TestClient, org: OrgFixture, name: str, mjml: str) -> Any:
    return client.post(
        "/api/template-blocks", json={"name": name, "mjml": mjml}, headers=org.secret_headers
    )


def reasons(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    fields = response.json()["error"]["fields"]
    assert {f["field"] for f in fields} == {"mjml"}, fields
    return [f["reason"] for f in fields]


def test_create_list_update_delete(client: TestClient) -> None:
    org = make_org()
    section = create(client, org, "Greeting", SECTION)
    assert section.status_code == 201, section.text
    wrapper = create(client, org, "Two greetings", WRAPPER)
    assert wrapper.status_code == 201, wrapper.text
    block = section.json()
    assert block["mjml"] == SECTION and block["name"] == "Greeting"

    listed = client.get("/api/template-blocks", headers=org.secret_headers).json()
    assert [b["name"] for b in listed["data"]] == ["Two greetings", "Greeting"]

    url = f"/api/template-blocks/{block['id']}"
    patched = client.patch(url, json={"name": "Hello"}, headers=org.secret_headers)
    assert patched.status_code == 200 and patched.json()["mjml"] == SECTION
    changed = SECTION.replace("Hi", "Hello")
    patched = client.patch(url, json={"mjml": changed}, headers=org.secret_headers)
    assert patched.json()["mjml"] == changed and patched.json()["name"] == "Hello"
    bad = client.patch(url, json={"mjml": "<mj-text>x</mj-text>"}, headers=org.secret_headers)
    reasons(bad)
    assert client.get(url, headers=org.secret_headers).json()["mjml"] == changed

    assert client.delete(url, headers=org.secret_headers).status_code == 204
    assert client.get(url, headers=org.secret_headers).status_code == 404


def test_refused_blocks_name_mjml_with_the_blocks_lines(client: TestClient) -> None:
    org = make_org()
    one = "must be one <mj-section> or <mj-wrapper> element (with what it contains)"
    assert reasons(create(client, org, "x", "<mj-text>Hi</mj-text>")) == [one]
    assert reasons(create(client, org, "x", SECTION + SECTION)) == [one]
    assert reasons(create(client, org, "x", "text " + SECTION)) == [one]
    assert reasons(create(client, org, "x", "<p>hi</p>")) == [one]
    unclosed = "<mj-section>\n  <mj-column>\n    <mj-text>Hi\n  </mj-column>\n</mj-section>"
    found = reasons(create(client, org, "x", unclosed))
    assert found and found[0].startswith("line "), found
    jinja = "<mj-section>\n<mj-column>\n<mj-text>{{ profile.first_name </mj-text>\n"
    jinja += "</mj-column>\n</mj-section>"
    found = reasons(create(client, org, "x", jinja))
    assert found[0].startswith("line 3"), found
    empty = client.post(
        "/api/template-blocks", json={"name": "x", "mjml": ""}, headers=org.secret_headers
    )
    assert empty.status_code == 422


def test_tenancy(client: TestClient) -> None:
    owner, intruder = make_org(), make_org()
    block = create(client, owner, "Greeting", SECTION).json()
    by_id = "/api/template-blocks/{id}"
    assert_isolated(
        client,
        owner,
        intruder,
        block["id"],
        [
            Endpoint("GET", by_id),
            Endpoint("PATCH", by_id, {"name": "Mine"}),
            Endpoint("DELETE", by_id),
        ],
        Endpoint("GET", by_id),
    )
    assert client.get("/api/template-blocks", headers=intruder.secret_headers).json()["data"] == []
    assert_management_only(client, owner, block["id"], [Endpoint("GET", by_id)])
