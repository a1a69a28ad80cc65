"""Team members: creation, roles, removal and the rules that keep an organization owned."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import make_org, make_user, sign_in


def _create(client: TestClient, headers: dict[str, str], **fields) -> object:
    body = {"email": "new@example.com", "password": "long enough pass", **fields}
    return client.post("/api/users", json=body, headers=headers)


def test_admin_creates_a_member_who_can_then_sign_in(client: TestClient) -> None:
    org = make_org()
    response = _create(client, org.secret_headers, name="Ada", role="member")
    assert response.status_code == 201
    user = response.json()
    assert user["email"] == "new@example.com" and user["role"] == "member"
    assert "password" not in user and "password_hash" not in user
    listed = client.get("/api/users", headers=org.secret_headers).json()["data"]
    assert {u["email"] for u in listed} == {org.owner_email, "new@example.com"}
    sign_in(client, "new@example.com", "long enough pass")


def test_duplicate_email_is_a_conflict_naming_the_field(client: TestClient) -> None:
    org, other = make_org(), make_org()
    response = _create(client, org.secret_headers, email=other.owner_email)
    assert response.status_code == 409
    assert response.json()["error"]["fields"] == [
        {"field": "email", "reason": "already registered"}
    ]


def test_members_cannot_manage_users(client: TestClient) -> None:
    org = make_org()
    email, password = make_user(org, "member")
    csrf = sign_in(client, email, password)
    headers = {"X-CSRF-Token": csrf}
    assert _create(client, headers).status_code == 403
    owner = org.owner_id
    assert (
        client.patch(f"/api/users/{owner}", json={"name": "x"}, headers=headers).status_code == 403
    )
    assert client.delete(f"/api/users/{owner}", headers=headers).status_code == 403
    assert client.get(f"/api/users/{owner}").status_code == 200


def test_only_owners_grant_ownership(client: TestClient) -> None:
    org = make_org()
    email, password = make_user(org, "admin")
    csrf = sign_in(client, email, password)
    headers = {"X-CSRF-Token": csrf}
    assert _create(client, headers, role="owner").status_code == 403
    member = _create(client, headers, role="member").json()
    promote = client.patch(f"/api/users/{member['id']}", json={"role": "owner"}, headers=headers)
    assert promote.status_code == 403
    demote_owner = client.patch(
        f"/api/users/{org.owner_id}", json={"role": "member"}, headers=headers
    )
    assert demote_owner.status_code == 403
    promote_admin = client.patch(
        f"/api/users/{member['id']}", json={"role": "admin"}, headers=headers
    )
    assert promote_admin.json()["role"] == "admin"


def test_the_last_owner_cannot_be_demoted_or_removed(client: TestClient) -> None:
    org = make_org()
    csrf = sign_in(client, org.owner_email)
    headers = {"X-CSRF-Token": csrf}
    demote = client.patch(f"/api/users/{org.owner_id}", json={"role": "admin"}, headers=headers)
    assert demote.status_code == 409
    assert client.delete(f"/api/users/{org.owner_id}", headers=headers).status_code == 409
    second = _create(client, headers, role="owner").json()
    assert client.delete(f"/api/users/{org.owner_id}", headers=headers).status_code == 204
    remaining = client.get("/api/users", headers=org.secret_headers).json()["data"]
    assert [u["id"] for u in remaining] == [second["id"]]


def test_removed_user_loses_their_sessions(app, client: TestClient) -> None:
    org = make_org()
    email, password = make_user(org, "member")
    with TestClient(app) as member_browser:
        sign_in(member_browser, email, password)
        assert member_browser.get("/api/me").status_code == 200
        users = client.get("/api/users", headers=org.secret_headers).json()["data"]
        member_id = next(u["id"] for u in users if u["email"] == email)
        assert (
            client.delete(f"/api/users/{member_id}", headers=org.secret_headers).status_code == 204
        )
        assert member_browser.get("/api/me").status_code == 401
    assert client.get(f"/api/users/{member_id}", headers=org.secret_headers).status_code == 404


def test_role_change_applies_to_existing_sessions(app, client: TestClient) -> None:
    org = make_org()
    email, password = make_user(org, "admin")
    csrf = sign_in(client, email, password)
    me = client.get("/api/me").json()
    client.patch(
        f"/api/users/{me['user']['id']}", json={"role": "member"}, headers=org.secret_headers
    )
    response = _create(client, {"X-CSRF-Token": csrf})
    assert response.status_code == 403
