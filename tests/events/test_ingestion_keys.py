"""The ingestion key cache (herald.tenancy.auth): keys are trusted for KEY_CACHE_SECONDS, and a
revocation in this process takes effect at once."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from herald.db import Database, utcnow
from herald.models import ApiKey
from herald.tenancy import auth
from tests.factories import make_org

EVENT = {"event": "E", "profile": {"email": "a@example.com"}}


def _new_public_key(client: TestClient, secret_headers: dict[str, str]) -> dict[str, Any]:
    created = client.post(
        "/api/api-keys", json={"name": "site", "kind": "public"}, headers=secret_headers
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def test_a_key_revoked_here_is_refused_at_once(client: TestClient) -> None:
    org = make_org()
    key = _new_public_key(client, org.secret_headers)
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert client.post("/api/track", json=EVENT, headers=headers).status_code == 202  # cached
    revoked = client.delete(f"/api/api-keys/{key['id']}", headers=org.secret_headers)
    assert revoked.status_code == 200
    for path, body in (("/api/track", EVENT), ("/api/track/batch", {"events": [EVENT]})):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "not_authenticated"


def test_a_key_revoked_elsewhere_is_refused_within_the_cache_time(
    client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = make_org()
    key = _new_public_key(client, org.secret_headers)
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert client.post("/api/track", json=EVENT, headers=headers).status_code == 202
    # Another process revokes it: this one hears nothing.
    with database.transaction() as session:
        session.execute(
            sa.update(ApiKey).where(ApiKey.id == uuid.UUID(key["id"])).values(revoked_at=utcnow())
        )
    assert client.post("/api/track", json=EVENT, headers=headers).status_code == 202
    now = time.monotonic()

    class Later:
        @staticmethod
        def monotonic() -> float:
            return now + auth.KEY_CACHE_SECONDS + 0.1

    monkeypatch.setattr(auth, "time", Later)
    assert client.post("/api/track", json=EVENT, headers=headers).status_code == 401
    # The management API never trusts the cache.
    assert client.get("/api/me", headers=org.secret_headers).status_code == 200


def test_clearing_the_cache_looks_keys_up_again(client: TestClient, database: Database) -> None:
    org = make_org()
    assert client.post("/api/track", json=EVENT, headers=org.public_headers).status_code == 202
    with database.transaction() as session:
        session.execute(
            sa.update(ApiKey)
            .where(ApiKey.org_id == org.org_id, ApiKey.kind == "public")
            .values(revoked_at=utcnow())
        )
    auth.clear_key_cache()
    response = client.post("/api/track", json=EVENT, headers=org.public_headers)
    assert response.status_code == 401
