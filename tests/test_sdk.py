"""/sdk.js, and CORS on the ingestion endpoints (and nowhere else)."""

from __future__ import annotations

import json
from importlib import resources

from fastapi.testclient import TestClient

from herald.cors import INGESTION_PATHS
from tests.factories import make_org, sign_in

SITE = "https://shop.example"


def test_sdk_js_is_served_as_javascript_with_cache_headers(client: TestClient) -> None:
    response = client.get("/sdk.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == resources.files("herald.sdk").joinpath("sdk.js").read_bytes()
    assert "herald.identify" in response.text
    # A browser revalidating after an hour gets an empty 304 while the file is unchanged.
    etag = response.headers["etag"]
    again = client.get("/sdk.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert client.get("/sdk.js", headers={"If-None-Match": '"other"'}).status_code == 200
    head = client.head("/sdk.js")
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/javascript; charset=utf-8"


def test_sdk_js_is_not_in_the_api_description(client: TestClient) -> None:
    assert "/sdk.js" not in client.get("/openapi.json").json()["paths"]


def test_ingestion_paths_answer_preflights_for_any_origin(client: TestClient) -> None:
    assert {
        "/api/identify",
        "/api/track",
        "/api/track/batch",
        "/v1/batch",
        "/v1/t",
    } <= INGESTION_PATHS
    assert all(p.startswith(("/api/track", "/api/identify", "/v1/")) for p in INGESTION_PATHS)
    for path in INGESTION_PATHS:
        response = client.options(
            path,
            headers={
                "Origin": SITE,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert response.status_code == 204, path
        assert response.headers["access-control-allow-origin"] == "*"
        assert "POST" in response.headers["access-control-allow-methods"]
        allowed = response.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
        assert "access-control-allow-credentials" not in response.headers


def test_ingestion_answers_carry_cors_headers_even_when_refused(client: TestClient) -> None:
    org = make_org()
    accepted = client.post(
        "/api/track",
        params={"api_key": org.public_key},
        json={"event": "Viewed Page", "profile": {"anonymous_id": "a-1"}},
        headers={"Origin": SITE},
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["access-control-allow-origin"] == "*"
    refused = client.post(
        "/api/identify",
        params={"api_key": "pk_not_a_key"},
        json={"email": "ada@example.com"},
        headers={"Origin": SITE},
    )
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == "*"


def test_a_text_plain_body_on_ingestion_is_read_as_json(client: TestClient) -> None:
    """What the snippet sends: a "simple" request that needs no preflight, and what
    navigator.sendBeacon sends for a string."""
    org = make_org()
    body = {"event": "Viewed Page", "profile": {"anonymous_id": "a-2"}, "unique_id": "u-1"}
    response = client.post(
        "/api/track",
        params={"api_key": org.public_key},
        content=json.dumps(body),
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": SITE},
    )
    assert response.status_code == 202, response.text
    identified = client.post(
        "/api/identify",
        params={"api_key": org.public_key},
        content=json.dumps({"email": "ada@example.com", "anonymous_id": "a-2"}),
        headers={"Content-Type": "text/plain"},
    )
    assert identified.status_code == 200, identified.text
    assert identified.json()["profile_id"] == response.json()["profile_id"]


def test_management_endpoints_get_no_cors(client: TestClient) -> None:
    org = make_org()
    for path in ["/api/me", "/api/profiles", "/api/api-keys", "/api/metrics", "/sdk.js"]:
        preflight = client.options(
            path,
            headers={
                "Origin": SITE,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert "access-control-allow-origin" not in preflight.headers, path
        answer = client.get(path, headers={**org.secret_headers, "Origin": SITE})
        assert answer.status_code == 200, path
        assert "access-control-allow-origin" not in answer.headers, path


def test_text_plain_is_not_json_on_management_endpoints(client: TestClient) -> None:
    """Only ingestion reads text/plain as JSON: a cross-site form cannot post JSON elsewhere."""
    org = make_org()
    csrf = sign_in(client, org.owner_email)
    response = client.post(
        "/api/api-keys",
        content=json.dumps({"name": "sneaky", "kind": "secret"}),
        headers={"Content-Type": "text/plain", "X-CSRF-Token": csrf},
    )
    assert response.status_code == 422
    keys = client.get("/api/api-keys", headers=org.secret_headers).json()["data"]
    assert "sneaky" not in {k["name"] for k in keys}
