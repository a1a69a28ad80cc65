"""API keys: shown once, stored hashed, revocable at once, kinds kept apart."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import get_database
from herald.models import ApiKey
from tests.factories import make_org, make_user, sign_in


def test_a_new_key_is_shown_once_and_stored_only_as_a_hash(client: TestClient) -> None:
    org = make_org()
    created = client.post(
        "/api/api-keys", json={"name": "Shop backend", "kind": "secret"}, headers=org.secret_headers
    )
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith("sk_") and len(key) >= 32
    assert body["prefix"] == key[:10]
    listed = client.get("/api/api-keys", headers=org.secret_headers)
    assert key not in listed.text
    single = client.get(f"/api/api-keys/{body['id']}", headers=org.secret_headers)
    assert key not in single.text and "key" not in single.json()
    with get_database().transaction() as session:
        stored = session.scalars(sa.select(ApiKey)).all()
        for row in stored:
            assert key not in (row.key_hash, row.prefix, row.name)
    assert client.get("/api/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_public_keys_start_with_pk_and_cannot_manage(client: TestClient) -> None:
    org = make_org()
    created = client.post(
        "/api/api-keys", json={"name": "Website", "kind": "public"}, headers=org.secret_headers
    ).json()
    assert created["key"].startswith("pk_")
    response = client.get("/api/me", headers={"Authorization": f"Bearer {created['key']}"})
    assert response.status_code == 403
    assert "secret key" in response.json()["error"]["message"]


def test_revoked_key_stops_working_at_once(client: TestClient) -> None:
    org = make_org()
    created = client.post(
        "/api/api-keys", json={"name": "temporary", "kind": "secret"}, headers=org.secret_headers
    ).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/api/me", headers=headers).status_code == 200
    revoked = client.delete(f"/api/api-keys/{created['id']}", headers=org.secret_headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    # Revoking again is harmless and keeps the first revocation time.
    again = client.delete(f"/api/api-keys/{created['id']}", headers=org.secret_headers)
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]


def test_last_used_at_is_recorded(client: TestClient) -> None:
    org = make_org()
    assert client.get("/api/me", headers=org.secret_headers).status_code == 200
    keys = client.get("/api/api-keys", headers=org.secret_headers).json()["data"]
    secret = next(k for k in keys if k["kind"] == "secret")
    assert secret["last_used_at"] is not None  # written after the first request committed
    public = next(k for k in keys if k["kind"] == "public")
    assert public["last_used_at"] is None
    client.post(
        "/api/track",
        json={"event": "E", "profile": {"email": "a@example.com"}},
        headers=org.public_headers,
    )
    keys = client.get("/api/api-keys", headers=org.secret_headers).json()["data"]
    assert next(k for k in keys if k["kind"] == "public")["last_used_at"] is not None


def test_keys_are_sent_as_bearer_or_basic_user(client: TestClient) -> None:
    org = make_org()
    basic = client.get("/api/me", auth=(org.secret_key, ""))
    assert basic.status_code == 200
    garbage = client.get("/api/me", headers={"Authorization": "Basic !!!"})
    assert garbage.status_code == 401
    unknown = client.get("/api/me", headers={"Authorization": "Bearer sk_unknown"})
    assert unknown.status_code == 401


def test_members_cannot_create_or_revoke_keys(client: TestClient) -> None:
    org = make_org()
    email, password = make_user(org, "member")
    csrf = sign_in(client, email, password)
    headers = {"X-CSRF-Token": csrf}
    create = client.post("/api/api-keys", json={"name": "x", "kind": "secret"}, headers=headers)
    assert create.status_code == 403
    keys = client.get("/api/api-keys").json()["data"]
    assert len(keys) == 2  # members may see the list, without secrets
    revoke = client.delete(f"/api/api-keys/{keys[0]['id']}", headers=headers)
    assert revoke.status_code == 403
    assert client.get("/api/me", headers=org.secret_headers).status_code == 200


def test_admins_create_keys_from_the_dashboard(client: TestClient) -> None:
    org = make_org()
    email, password = make_user(org, "admin")
    csrf = sign_in(client, email, password)
    response = client.post(
        "/api/api-keys", json={"name": "  ", "kind": "secret"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "name"
    response = client.post(
        "/api/api-keys", json={"name": "Zapier", "kind": "root"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "kind"
    response = client.post(
        "/api/api-keys", json={"name": "Zapier", "kind": "secret"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 201
