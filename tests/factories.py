"""Small factories for test data, built through the services (no fixture files)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi.testclient import TestClient

from herald.db import get_database
from herald.tenancy import service

DEFAULT_PASSWORD = "correct horse battery staple"


@dataclass
class OrgFixture:
    org_id: uuid.UUID
    owner_id: uuid.UUID
    owner_email: str
    password: str
    public_key: str
    secret_key: str

    @property
    def secret_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret_key}"}

    @property
    def public_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.public_key}"}


def make_org(
    name: str = "Acme", email: str | None = None, *, name_confirmed: bool = True
) -> OrgFixture:
    email = email or f"owner-{uuid.uuid4().hex[:8]}@example.com"
    with get_database().transaction() as session:
        organization, owner = service.create_organization(
            session, name, email, DEFAULT_PASSWORD, name_confirmed=name_confirmed
        )
        _p, public_key = service.create_api_key(session, organization.id, "public", "public")
        _s, secret_key = service.create_api_key(session, organization.id, "secret", "secret")
    return OrgFixture(organization.id, owner.id, email, DEFAULT_PASSWORD, public_key, secret_key)


def make_user(org: OrgFixture, role: str = "member", email: str | None = None) -> tuple[str, str]:
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    with get_database().transaction() as session:
        service.create_user(session, org.org_id, email, DEFAULT_PASSWORD, role=role)
    return email, DEFAULT_PASSWORD


def sign_in(client: TestClient, email: str, password: str = DEFAULT_PASSWORD) -> str:
    """Sign the client in with a session cookie; returns the CSRF token to send on writes."""
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token
