"""The tenancy check every resource reuses (DESIGN invariant 1).

For a resource that belongs to organization A, every endpoint that names it by id must answer
another organization's secret key with 404 (never 403: the id's existence is not revealed) and
change nothing; a public key must be refused on management endpoints; no credentials is a 401.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from tests.factories import OrgFixture


@dataclass
class Endpoint:
    method: str
    path: str  # with "{id}" where the resource id goes
    json: dict[str, Any] | None = field(default=None)

    def url(self, resource_id: str) -> str:
        return self.path.replace("{id}", resource_id)


def assert_isolated(
    client: TestClient,
    owner: OrgFixture,
    intruder: OrgFixture,
    resource_id: str,
    endpoints: list[Endpoint],
    read_back: Endpoint,
) -> None:
    """Every endpoint answers the intruder 404 and the owner still reads the same resource."""
    before = client.request(
        read_back.method, read_back.url(resource_id), headers=owner.secret_headers
    )
    assert before.status_code == 200, before.text
    for endpoint in endpoints:
        response = client.request(
            endpoint.method,
            endpoint.url(resource_id),
            headers=intruder.secret_headers,
            json=endpoint.json,
        )
        assert response.status_code == 404, (endpoint, response.text)
        assert response.json()["error"]["code"] == "not_found"
    after = client.request(
        read_back.method, read_back.url(resource_id), headers=owner.secret_headers
    )
    assert after.json() == before.json(), "an intruder's request changed the resource"


def assert_management_only(
    client: TestClient, owner: OrgFixture, resource_id: str, endpoints: list[Endpoint]
) -> None:
    """A public key gets 403 and a request without credentials gets 401, on every endpoint."""
    for endpoint in endpoints:
        url = endpoint.url(resource_id)
        public = client.request(
            endpoint.method, url, headers=owner.public_headers, json=endpoint.json
        )
        assert public.status_code == 403, (endpoint, public.text)
        anonymous = client.request(endpoint.method, url, json=endpoint.json)
        assert anonymous.status_code == 401, (endpoint, anonymous.text)
