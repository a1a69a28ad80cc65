"""Another organization's ids are 404 on every tenancy resource; public keys cannot manage."""

from __future__ import annotations

from fastapi.testclient import TestClient

from herald.settings import get_settings
from tests.factories import make_org
from tests.tenancy import Endpoint, assert_isolated, assert_management_only


def test_users_are_isolated(client: TestClient) -> None:
    owner, intruder = make_org("A"), make_org("B")
    created = client.post(
        "/api/users",
        json={"email": "member@a.example", "password": "long enough pass", "role": "member"},
        headers=owner.secret_headers,
    )
    user_id = created.json()["id"]
    endpoints = [
        Endpoint("GET", "/api/users/{id}"),
        Endpoint("PATCH", "/api/users/{id}", {"role": "admin"}),
        Endpoint("DELETE", "/api/users/{id}"),
    ]
    assert_isolated(client, owner, intruder, user_id, endpoints, Endpoint("GET", "/api/users/{id}"))
    assert_management_only(
        client,
        owner,
        user_id,
        [*endpoints, Endpoint("GET", "/api/users"), Endpoint("POST", "/api/users", {})],
    )
    listed = client.get("/api/users", headers=intruder.secret_headers).json()["data"]
    assert user_id not in {u["id"] for u in listed}


def test_api_keys_are_isolated(client: TestClient) -> None:
    owner, intruder = make_org("A"), make_org("B")
    created = client.post(
        "/api/api-keys", json={"name": "ci", "kind": "secret"}, headers=owner.secret_headers
    )
    key_id = created.json()["id"]
    endpoints = [Endpoint("GET", "/api/api-keys/{id}"), Endpoint("DELETE", "/api/api-keys/{id}")]
    assert_isolated(
        client, owner, intruder, key_id, endpoints, Endpoint("GET", "/api/api-keys/{id}")
    )
    assert_management_only(
        client,
        owner,
        key_id,
        [*endpoints, Endpoint("GET", "/api/api-keys"), Endpoint("POST", "/api/api-keys", {})],
    )
    # The key still works: the intruder's DELETE did not revoke it.
    me = client.get("/api/me", headers={"Authorization": f"Bearer {created.json()['key']}"})
    assert me.status_code == 200


def test_organization_endpoints_only_see_the_callers_organization(client: TestClient) -> None:
    first, second = make_org("First"), make_org("Second")
    assert client.get("/api/organization", headers=first.secret_headers).json()["name"] == "First"
    client.patch("/api/organization", json={"name": "Renamed"}, headers=second.secret_headers)
    assert client.get("/api/organization", headers=first.secret_headers).json()["name"] == "First"
    assert_management_only(
        client,
        first,
        "",
        [Endpoint("GET", "/api/organization"), Endpoint("PATCH", "/api/organization", {})],
    )


def test_a_placeholder_name_stays_unconfirmed_until_it_is_changed(client: TestClient) -> None:
    """`herald run`'s first organization has a placeholder name, which the dashboard asks its
    owner to replace; saving any other setting does not count as choosing a name."""
    org = make_org("My organization", name_confirmed=False)
    me = client.get("/api/me", headers=org.secret_headers).json()
    assert me["organization"]["name_confirmed"] is False
    assert me["links_base_url"] == get_settings().base_url.rstrip("/")
    client.patch("/api/organization", json={"timezone": "Europe/Paris"}, headers=org.secret_headers)
    assert (
        client.get("/api/organization", headers=org.secret_headers).json()["name_confirmed"]
        is False
    )
    renamed = client.patch(
        "/api/organization", json={"name": "Corner Bakery"}, headers=org.secret_headers
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name_confirmed"] is True
    assert (
        client.get("/api/me", headers=org.secret_headers).json()["organization"] == renamed.json()
    )
    # Organizations made any other way have a chosen name.
    assert client.get("/api/organization", headers=make_org("Chosen").secret_headers).json()[
        "name_confirmed"
    ]
